"""The generated probe tasks (training/probes.py) and their data sets.

Labels are recomputed from the images with implementations written here, independently of the
generators. The statistics are in test_stats.py, the verdicts the zoo draws from the tasks in
test_summary.py.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch

from training import data, models, probe_suite, probes

MARKS_TASKS = ("probe_diagonal", "probe_extrapolate")
SPLITS = ("train", "val", "test")
# The spec of probe_quadrant, from its docstring: the class is the direction from one glyph (the one earlier
# in QUADRANT_GLYPHS) to the other, two patches (four pixels) apart.
DIRECTIONS = {0: (0, 4), 1: (0, -4), 2: (4, 0), 3: (-4, 0)}  # right, left, down, up


@cache
def splits_of(task: str, seed: int = 0):
    return probes.splits(task, seed)


@cache
def extras_of(task: str, seed: int = 0):
    return probes.extra_tests(task, seed)


def all_sets(task: str, seed: int = 0) -> dict:
    return {**splits_of(task, seed), **extras_of(task, seed)}


# ---------------------------------------------------------------- independent label rules


def diagonal_label(anchor, marks) -> int:
    """1 when a mark shares a diagonal or an anti-diagonal with the anchor (the anchor's own cell excluded)."""
    ar, ac = anchor
    return int(any(r - ar == c - ac != 0 or r - ar == ac - c != 0 for r, c in marks))


def touching_label(anchor, marks) -> int:
    """1 when a mark is one of the anchor's 8 neighbours."""
    ar, ac = anchor
    return int(any((r, c) != (ar, ac) and abs(r - ar) <= 1 and abs(c - ac) <= 1 for r, c in marks))


RULES = {"probe_diagonal": diagonal_label, "probe_extrapolate": touching_label}


def anchor_and_marks(image: np.ndarray):
    """(anchor cell, mark cells) read off a (2, g, g) marks image."""
    anchors = [tuple(map(int, p)) for p in np.argwhere(image[0] > 0)]
    marks = [tuple(map(int, p)) for p in np.argwhere(image[1] > 0)]
    assert len(anchors) == 1 and len(marks) == probes.MARKS, (anchors, marks)
    return anchors[0], marks


DIRECTIONS_INDEX = {v: k for k, v in DIRECTIONS.items()}


def _glyphs_and_direction(image: np.ndarray) -> tuple[tuple[tuple[int, int], tuple[int, int]], int]:
    """The top-left pixels of the two 2x2 glyphs (in QUADRANT_GLYPHS order) and the direction class of a
    (16, 16) quadrant image.

    Fails unless the image holds exactly two different glyphs of QUADRANT_GLYPHS, each on one 2x2 patch,
    and nothing else.
    """
    found, inked = {}, 0
    for r in range(0, image.shape[0], 2):
        for c in range(0, image.shape[1], 2):
            patch = image[r : r + 2, c : c + 2] > 0
            inked += bool(patch.any())
            for shape, glyph in enumerate(probes.QUADRANT_GLYPHS):
                if patch.any() and np.array_equal(patch, glyph > 0):
                    found[shape] = (r, c)
    assert len(found) == 2 and inked == 2, (found, inked)
    (_, a), (_, b) = sorted(found.items())
    offset = (b[0] - a[0], b[1] - a[1])
    assert offset in DIRECTIONS_INDEX, offset  # two patches apart, in a row or a column
    return (a, b), DIRECTIONS_INDEX[offset]


# ---------------------------------------------------------------- the hand-made rules


def test_on_diagonal_on_chosen_cells():
    anchor = (3, 4)
    for mark in [(4, 5), (2, 3), (0, 1), (7, 8), (4, 3), (2, 5), (0, 7), (6, 1)]:  # both diagonals, both ways
        assert probes.on_diagonal(anchor, mark), mark
    for mark in [(3, 4), (3, 0), (3, 7), (0, 4), (7, 4), (4, 6), (5, 5), (1, 5), (6, 2)]:
        # the anchor itself, its row, its column, knight moves and other off-diagonal cells
        assert not probes.on_diagonal(anchor, mark), mark
    for anchor, mark in [((0, 0), (7, 7)), ((7, 0), (0, 7)), ((0, 7), (7, 0))]:
        assert probes.on_diagonal(anchor, mark) and probes.on_diagonal(mark, anchor)


def test_touching_on_chosen_cells():
    anchor = (5, 5)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            assert probes.touching(anchor, (5 + dr, 5 + dc)) == ((dr, dc) != (0, 0)), (dr, dc)
    for mark in [(5, 7), (3, 5), (7, 7), (3, 4), (6, 3), (0, 0), (15, 15)]:
        assert not probes.touching(anchor, mark), mark
    assert probes.touching((0, 0), (1, 1)) and probes.touching((15, 15), (14, 15))


def test_marks_images_follow_the_rule_they_are_given():
    rule = lambda a, m: m[0] == a[0]  # noqa: E731  (a mark in the anchor's row)
    images, labels = probes.marks_images(200, 6, rule, np.random.default_rng(5))
    assert images.shape == (200, 2, 6, 6) and labels.tolist().count(1) == 100
    for image, label in zip(images.numpy(), labels.tolist()):
        anchor, marks = anchor_and_marks(image)
        assert int(any(r == anchor[0] for r, _ in marks)) == label


# ---------------------------------------------------------------- determinism and leakage


@pytest.mark.parametrize("task", probes.TASKS)
def test_generators_are_deterministic_per_seed(task):
    again = {**probes.splits(task, 0), **probes.extra_tests(task, 0)}
    other = {**probes.splits(task, 1), **probes.extra_tests(task, 1)}
    assert set(again) == set(all_sets(task)) == set(other)
    for name, (images, labels) in all_sets(task).items():
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert torch.equal(images, again[name][0]) and torch.equal(labels, again[name][1]), name
        assert not torch.equal(images, other[name][0]), name  # another seed draws other examples
        assert not torch.equal(labels, other[name][1]), name


PAIRED = {"held-out quadrant", "moved to a trained quadrant"}  # the same layouts, by design


def test_the_quadrant_tasks_moved_images_are_its_held_out_ones_in_the_top_left():
    sets = all_sets("probe_quadrant")
    (held, labels), (moved, moved_labels) = (sets[name] for name in sorted(PAIRED))
    assert torch.equal(labels, moved_labels) and held[:, :, :8, :].sum() == 0
    assert torch.equal(moved[:, :, :8, :8], held[:, :, 8:, 8:]) and moved[:, :, 8:, :].sum() == 0


@pytest.mark.parametrize("task", probes.TASKS)
def test_splits_and_extra_tests_of_one_seed_are_drawn_apart(task):
    sets = all_sets(task)
    assert [len(sets[s][1]) for s in SPLITS] == [probes.SIZES[s] for s in SPLITS]
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ia, ib = sets[a][0], sets[b][0]
            if ia.shape[1:] != ib.shape[1:] or {a, b} == PAIRED:
                continue
            n = min(len(ia), len(ib))
            # Not the same stream: the first examples differ (no split is a copy or a prefix of another).
            assert not torch.equal(ia[:n], ib[:n]), (a, b)
            assert not torch.equal(sets[a][1][:n], sets[b][1][:n]), (a, b)
    if task in MARKS_TASKS:
        # ~2.5 million layouts: distinct streams share an image only by chance, and rarely.
        keys = {s: {bytes(x.numpy().tobytes()) for x in sets[s][0]} for s in SPLITS}
        assert len(keys["train"]) > 0.99 * probes.SIZES["train"]
        assert len(keys["train"] & keys["test"]) < 0.01 * probes.SIZES["test"]
        assert len(keys["train"] & keys["val"]) < 0.01 * probes.SIZES["val"]
        assert len(keys["val"] & keys["test"]) < 0.01 * probes.SIZES["val"]


@pytest.mark.parametrize("task", probes.TASKS)
def test_labels_are_balanced(task):
    classes = 4 if task == "probe_quadrant" else 2
    for name, (_, labels) in all_sets(task).items():
        counts = torch.bincount(labels, minlength=classes).tolist()
        assert len(counts) == classes and counts == [len(labels) // classes] * classes, (name, counts)


# ---------------------------------------------------------------- labels recomputed from the images


@pytest.mark.parametrize("task", MARKS_TASKS)
def test_marks_labels_recomputed_from_the_images(task):
    rule = RULES[task]
    for name, (images, labels) in all_sets(task).items():
        images = images.numpy()
        assert set(np.unique(images).tolist()) == {0, 255}
        recomputed = [rule(*anchor_and_marks(image)) for image in images]
        assert recomputed == labels.tolist(), name


def test_extrapolation_tests_are_bigger_grids_with_the_same_rule():
    extras = extras_of("probe_extrapolate")
    assert list(extras) == ["12x12 grid", "16x16 grid", "16x16 grid, marks in 8x8", "the same marks cropped to 8x8"]
    assert splits_of("probe_extrapolate")["train"][0].shape[1:] == (2, 8, 8)
    for g in (12, 16):
        images, labels = extras[f"{g}x{g} grid"]
        assert images.shape == (probes.SIZES["test"], 2, g, g)
        cells = [anchor_and_marks(image) for image in images.numpy()]
        assert [touching_label(*c) for c in cells] == labels.tolist()
        # The marks use the whole bigger grid, not only the 8x8 corner trained on.
        far = [max(r, c) for anchor, marks in cells for r, c in [anchor, *marks]]
        assert max(far) == g - 1 and sum(f >= 8 for f in far) > len(far) / 4
    images, labels = extras["16x16 grid, marks in 8x8"]
    cells = [anchor_and_marks(image) for image in images.numpy()]
    assert [touching_label(*c) for c in cells] == labels.tolist()
    spans = [np.ptp(np.array([anchor, *marks]), axis=0).max() for anchor, marks in cells]
    assert max(spans) <= 7  # the offsets of the training grid only, anywhere on the larger one
    assert extras_of("probe_diagonal") == {}


def test_quadrant_labels_and_placement_recomputed_from_the_images():
    sets = all_sets("probe_quadrant")
    assert list(sets) == [*SPLITS, "held-out quadrant", "moved to a trained quadrant"]
    half = 8
    # where each set may put the glyph pair: the pixel box it must avoid, or the one it must lie in
    avoid = {split: (slice(half, 16), slice(half, 16)) for split in SPLITS}  # the held-out bottom-right quadrant
    inside = {
        "held-out quadrant": (slice(half, 16), slice(half, 16)),
        "moved to a trained quadrant": (slice(0, half), slice(0, half)),
    }
    for name, (images, labels) in sets.items():
        assert images.shape == (len(labels), 1, 16, 16)
        images = images[:, 0].numpy()
        assert set(np.unique(images).tolist()) == {0, 255}, name
        corners = set()
        for image, label in zip(images, labels.tolist()):
            (first, second), direction = _glyphs_and_direction(image)  # patch-aligned glyphs, or it fails
            assert direction == label, name
            corners.add(tuple(np.minimum(first, second)))
        if name in avoid:
            assert images[(slice(None), *avoid[name])].sum() == 0, name  # training never draws in the quadrant
        else:
            box = np.zeros((16, 16), bool)
            box[inside[name]] = True
            assert images[:, ~box].sum() == 0 and images[:, box].any((1,)).all(), name
        # every placement the region allows shows up (a pair is never stuck in a few spots)
        assert len(corners) >= (6 if name in inside else 20), (name, len(corners))
    # Training pairs do cross from a trained quadrant into another (only the held-out one is avoided).
    train = sets["train"][0][:, 0].numpy() > 0
    assert any(im[:half, :half].any() and im[:half, half:].any() for im in train)


# ---------------------------------------------------------------- content alone cannot solve the tasks


def bag_of_tokens(image: np.ndarray, patch: int) -> list:
    """The sorted patch contents of a (C, H, W) image: what a model without positions sees."""
    c, h, w = image.shape
    patches = image.reshape(c, h // patch, patch, w // patch, patch).transpose(1, 3, 0, 2, 4)
    patches = patches.reshape(-1, c * patch**2)
    return sorted(map(bytes, patches))


@pytest.mark.parametrize("task", MARKS_TASKS)
def test_marks_tasks_have_the_same_content_in_every_image(task):
    for name, (images, labels) in all_sets(task).items():
        per_channel = (images > 0).sum(dim=(2, 3))  # (n, 2): marked pixels per channel
        for label in (0, 1):
            assert (per_channel[labels == label] == torch.tensor([1, probes.MARKS])).all(), (name, label)
        assert not ((images[:, 0] > 0) & (images[:, 1] > 0)).any()  # a mark never sits on the anchor
    train_images, train_labels = splits_of(task)["train"]
    bags = {
        label: {tuple(bag_of_tokens(im, 1)) for im in train_images[train_labels == label].numpy()} for label in (0, 1)
    }
    assert len(bags[0]) == 1 and bags[0] == bags[1]  # one bag of tokens for both classes


def test_quadrant_images_hold_two_different_glyphs_whatever_the_class():
    for images, _ in all_sets("probe_quadrant").values():
        for image in images[:, 0].numpy():
            _glyphs_and_direction(image)  # exactly two different glyphs, nothing else
    images, labels = splits_of("probe_quadrant")["train"]
    bags = {label: [tuple(bag_of_tokens(im, 2)) for im in images[labels == label].numpy()] for label in range(4)}
    # Every class holds the same bags of tokens: the C(4, 2) = 6 pairs of glyphs, about equally often.
    kinds = {label: set(b) for label, b in bags.items()}
    assert all(k == kinds[0] for k in kinds.values()) and len(kinds[0]) == 6
    for label, b in bags.items():
        expected = len(b) / 6
        counts = [b.count(kind) for kind in kinds[0]]
        assert all(0.6 * expected < c < 1.4 * expected for c in counts), (label, counts)


# ---------------------------------------------------------------- data.load


@pytest.mark.parametrize(
    "task, classes, chans, side",
    [("probe_diagonal", 2, 2, 8), ("probe_quadrant", 4, 1, 16), ("probe_extrapolate", 2, 2, 8)],
)
def test_data_load_of_the_probe_tasks(task, classes, chans, side):
    splits = data.load(task, seed=3)
    assert isinstance(splits, data.Splits)
    assert (splits.num_classes, splits.in_chans, splits.image_size) == (classes, chans, side)
    generated = probes.splits(task, 3)
    for split in SPLITS:
        part = getattr(splits, split)
        assert torch.equal(part.images, generated[split][0]) and torch.equal(part.labels, generated[split][1])
    assert not torch.equal(data.load(task, seed=4).train.images, splits.train.images)
    images = splits.test.images[:64]
    x = splits.prepare(images)
    assert torch.equal(x[images == 0], torch.full_like(x[images == 0], -1.0))
    assert torch.equal(x[images == 255], torch.full_like(x[images == 255], 1.0))
    assert data.results_folder(task) == f"probes/{task}"
    # Every probe model size of the suite that trains on the task builds for these images (the content-only
    # ones with the blank value of the data, as `rope-blocks train` gives it), and keeps the inked patches.
    sizes = [size for size, (t, *_) in probe_suite.GROUPS.items() if t == task]
    assert sizes
    blank = tuple(-m / s for m, s in zip(splits.mean, splits.std))
    patch = 2 if task == "probe_quadrant" else 1
    for size in sizes:
        model = models.build_model(
            f"vit_rope_2D_axial_2x2_{size}", image_size=side, in_chans=chans, num_classes=classes, blank_value=blank
        )
        assert model.cfg.patch_size == patch and model(x[:2]).shape == (2, classes), size
        if models.SIZES[size].content_only:
            inked = torch.nn.functional.max_pool2d((images[:2] > 0).any(1, keepdim=True).float(), patch).flatten(1)
            assert torch.equal(model.content_tokens(x[:2]), inked > 0), size


def test_unknown_probe_task_names_the_tasks():
    with pytest.raises(ValueError) as e:
        probes.splits("probe_diagonals", 0)
    assert all(t in str(e.value) for t in probes.TASKS) and "probe_diagonals" in str(e.value)
    with pytest.raises(ValueError) as e:
        probes.extra_tests("probe_nope", 0)
    assert all(t in str(e.value) for t in probes.TASKS)
    with pytest.raises(ValueError) as e:
        data.load("probe_nope")
    assert all(t in str(e.value) for t in probes.TASKS)
    assert data.results_folder("digits") == "digits"


def test_quadrant_images_hold_out_a_quadrant_and_label_the_direction():
    canvas, held_out = 16, "bottom-right"
    allowed = set(probes.QUADRANTS) - {held_out}
    train, train_labels = probes.quadrant_images(400, canvas, allowed, np.random.default_rng(0))
    test, test_labels = probes.quadrant_images(200, canvas, {held_out}, np.random.default_rng(1), within=True)
    assert np.bincount(train_labels.numpy()).tolist() == [100] * 4
    half = canvas // 2
    for images, labels, inside in ((train, train_labels, False), (test, test_labels, True)):
        for image, label in zip(images[:, 0].numpy(), labels.tolist()):
            _, direction = _glyphs_and_direction(image)
            assert direction == label
            ink = image[half:, half:].any()
            assert ink if inside else not ink  # training never draws in the held-out quadrant
            assert not inside or image[:half].sum() + image[:, :half].sum() == 0
    seen = {bytes(image) for image in train.numpy()}
    assert not any(bytes(image) in seen for image in test.numpy())
    assert len(seen) > 300, "many layouts, not a few repeated"
    assert probes.quadrants_touched(6, 6, 2, 6, 16) == {"top-left", "top-right"}
    assert probes.quadrants_touched(6, 6, 6, 2, 16) == {"top-left", "bottom-left"}
    assert probes.quadrants_touched(8, 8, 2, 6, 16) == {"bottom-right"}


def test_windowed_marks_keep_the_offsets_of_the_smaller_grid():
    images, labels = probes.marks_images(300, 16, probes.touching, np.random.default_rng(4), window=8)
    spans, corners = [], set()
    for image, label in zip(images.numpy(), labels.tolist()):
        anchor, marks = anchor_and_marks(image)
        cells = np.array([anchor, *marks])
        spans.append((cells.max(0) - cells.min(0)).max())
        corners.add(tuple(cells.min(0)))
        assert touching_label(anchor, marks) == label
    assert max(spans) <= 7 and len(corners) > 20  # in an 8x8 window, placed all over the 16x16 grid
    assert np.bincount(labels.numpy()).tolist() == [150, 150]


def test_the_paired_extra_tests_hold_the_same_layouts():
    for task, (a, b) in probes.PAIRED.items():
        extras = extras_of(task)
        (ia, la), (ib, lb) = extras[a], extras[b]
        assert torch.equal(la, lb) and torch.equal(ia.flatten(1).sum(1), ib.flatten(1).sum(1)), task  # same ink
    extras = extras_of("probe_extrapolate")
    full, cropped = extras["16x16 grid, marks in 8x8"][0], extras["the same marks cropped to 8x8"][0]
    assert cropped.shape[-2:] == (8, 8)
    for f, c in zip(full.numpy(), cropped.numpy()):
        (fa, fm), (ca, cm) = anchor_and_marks(f), anchor_and_marks(c)
        offsets = [sorted((r - a[0], q - a[1]) for r, q in marks) for a, marks in ((fa, fm), (ca, cm))]
        assert offsets[0] == offsets[1]  # every mark kept, at the same offset from the anchor
