"""The generated probe tasks (training/probes.py), their data sets, the statistics (training/stats.py)
and the verdicts the zoo draws from them (training/zoo.py: analyse, summary_text).

Labels are recomputed from the images with implementations written here, independently of the
generators; the verdict tests feed fabricated zoo rows with known differences through the zoo's
analysis.
"""
from __future__ import annotations

import math
import random
from functools import lru_cache

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from training import data, models, probes, stats, zoo

MARKS_TASKS = ("probe_diagonal", "probe_extrapolate")
SPLITS = ("train", "val", "test")
# The spec of probe_shift, from its docstring: the class is the direction from the first glyph (the
# full 2x2 square) to the second (the diagonal stroke), two patches (four pixels) apart.
SHIFT_DIRECTIONS = {0: (0, 4), 1: (0, -4), 2: (4, 0), 3: (-4, 0)}  # right, left, down, up
SQUARE = np.array([[1, 1], [1, 1]])
STROKE = np.array([[1, 0], [0, 1]])


@lru_cache(maxsize=None)
def splits_of(task: str, seed: int = 0):
    return probes.splits(task, seed)


@lru_cache(maxsize=None)
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


def glyph_positions(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) top-left pixels of the full square and of the diagonal stroke in (n, 1, 16, 16) shift images.

    Fails unless every image holds exactly one square, one stroke and nothing else.
    """
    assert set(np.unique(images).tolist()) <= {0, 255}
    lit = images[:, 0] > 0
    n, side = len(lit), lit.shape[-1]
    full = lit[:, :-1, :-1] & lit[:, 1:, :-1] & lit[:, :-1, 1:] & lit[:, 1:, 1:]
    assert (full.sum((1, 2)) == 1).all()
    square = np.argwhere(full)[:, 1:]  # argwhere lists the images in order
    grid = np.arange(side)
    in_square = (((grid[None, :] - square[:, :1]) // 2 == 0)[:, :, None]
                 & ((grid[None, :] - square[:, 1:]) // 2 == 0)[:, None, :])
    rest = lit & ~in_square
    assert (rest.sum((1, 2)) == STROKE.sum()).all() and (lit.sum((1, 2)) == SQUARE.sum() + STROKE.sum()).all()
    pixels = np.argwhere(rest)[:, 1:].reshape(n, 2, 2)  # the stroke's two pixels, in raster order
    assert (pixels[:, 1] - pixels[:, 0] == 1).all()  # top-left and bottom-right of a 2x2 box
    return square, pixels[:, 0]


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


@pytest.mark.parametrize("task", probes.TASKS)
def test_splits_and_extra_tests_of_one_seed_are_drawn_apart(task):
    sets = all_sets(task)
    assert [len(sets[s][1]) for s in SPLITS] == [probes.SIZES[s] for s in SPLITS]
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ia, ib = sets[a][0], sets[b][0]
            if ia.shape[1:] != ib.shape[1:]:
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
    classes = 4 if task == "probe_shift" else 2
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
    assert list(extras) == [f"{g}x{g} grid" for g in (12, 16)]
    assert splits_of("probe_extrapolate")["train"][0].shape[1:] == (2, 8, 8)
    for g in (12, 16):
        images, labels = extras[f"{g}x{g} grid"]
        assert images.shape == (probes.SIZES["test"], 2, g, g)
        cells = [anchor_and_marks(image) for image in images.numpy()]
        assert [touching_label(*c) for c in cells] == labels.tolist()
        # The marks use the whole bigger grid, not only the 8x8 corner trained on.
        far = [max(r, c) for anchor, marks in cells for r, c in [anchor, *marks]]
        assert max(far) == g - 1 and sum(f >= 8 for f in far) > len(far) / 4
    assert extras_of("probe_diagonal") == {}


def test_shift_labels_and_placement_recomputed_from_the_images():
    sets = all_sets("probe_shift")
    assert list(sets) == [*SPLITS, "moved by whole patches", "moved off the patch grid"]
    # where each set may put the glyph pair: (pixel range, parity of every glyph's top-left pixel)
    placement = {"train": ((0, 8), 0), "val": ((0, 8), 0), "test": ((0, 8), 0),
                 "moved by whole patches": ((8, 16), 0), "moved off the patch grid": ((9, 16), 1)}
    for name, (images, labels) in sets.items():
        assert images.shape == (len(labels), 1, 16, 16)
        (lo, hi), parity = placement[name]
        images, labels = images.numpy(), labels.numpy()
        square, stroke = glyph_positions(images)
        expected = np.array([SHIFT_DIRECTIONS[label] for label in labels])
        assert (stroke - square == expected).all(), name
        rows, cols = np.nonzero(images[:, 0].any(2)), np.nonzero(images[:, 0].any(1))
        for lit in (rows[1], cols[1]):
            assert lit.min() >= lo and lit.max() < hi, (name, lit.min(), lit.max())
        assert (square % 2 == parity).all() and (stroke % 2 == parity).all(), name
        # every placement the range allows shows up (a pair is never stuck in one spot)
        assert len({tuple(p) for p in np.minimum(square, stroke)}) >= 3, name
    # Off the patch grid never reaches the training region: its pixels start at row and column 9.
    off = sets["moved off the patch grid"][0]
    assert off[..., :9, :].sum() == 0 and off[..., :, :9].sum() == 0


# ---------------------------------------------------------------- content alone cannot solve the tasks

def bag_of_tokens(image: np.ndarray, patch: int) -> list:
    """The sorted patch contents of a (C, H, W) image: what a model without positions sees."""
    c, h, w = image.shape
    patches = image.reshape(c, h // patch, patch, w // patch, patch).transpose(1, 3, 0, 2, 4).reshape(-1, c * patch ** 2)
    return sorted(map(bytes, patches))


@pytest.mark.parametrize("task", MARKS_TASKS)
def test_marks_tasks_have_the_same_content_in_every_image(task):
    for name, (images, labels) in all_sets(task).items():
        per_channel = (images > 0).sum(dim=(2, 3))  # (n, 2): marked pixels per channel
        for label in (0, 1):
            assert (per_channel[labels == label] == torch.tensor([1, probes.MARKS])).all(), (name, label)
        assert not ((images[:, 0] > 0) & (images[:, 1] > 0)).any()  # a mark never sits on the anchor
    train_images, train_labels = splits_of(task)["train"]
    bags = {label: {tuple(bag_of_tokens(im, 1)) for im in train_images[train_labels == label].numpy()}
            for label in (0, 1)}
    assert len(bags[0]) == 1 and bags[0] == bags[1]  # one bag of tokens for both classes


def test_shift_images_hold_the_same_two_glyphs_in_every_image():
    for name, (images, labels) in all_sets("probe_shift").items():
        glyph_positions(images.numpy())  # exactly one square and one stroke, nothing else
        for label in range(4):
            assert ((images[labels == label] > 0).sum(dim=(1, 2, 3)) == 6).all(), (name, label)
    images, labels = splits_of("probe_shift")["train"]
    bags = {label: {tuple(bag_of_tokens(im, 2)) for im in images[labels == label].numpy()} for label in range(4)}
    assert all(len(b) == 1 for b in bags.values()) and len({next(iter(b)) for b in bags.values()}) == 1


# ---------------------------------------------------------------- data.load

@pytest.mark.parametrize("task, classes, chans, side", [("probe_diagonal", 2, 2, 8), ("probe_shift", 4, 1, 16),
                                                         ("probe_extrapolate", 2, 2, 8)])
def test_data_load_of_the_probe_tasks(task, classes, chans, side):
    splits = data.load(task, seed=3)
    assert isinstance(splits, data.Splits) and splits.name == task
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
    # A probe model of the task's size builds for these images.
    size = next(s for s, (t, _, _) in probes.SUITE.items() if t == task)
    model = models.build_model(f"vit_rope_2D_axial_2x2_{size}", image_size=side, in_chans=chans, num_classes=classes)
    assert model(x[:2]).shape == (2, classes)


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


# ---------------------------------------------------------------- stats

def test_mean_ci_matches_scipy():
    for values in ([0.81, 0.84, 0.79, 0.88, 0.83], [1.0, 2.0], [3, 5, 4, 10, -2, 7, 7]):
        mean, low, high = stats.mean_ci(values)
        ref_low, ref_high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                                   scale=scipy_stats.sem(values))
        assert mean == pytest.approx(np.mean(values)) and low == pytest.approx(ref_low)
        assert high == pytest.approx(ref_high)
        _, low90, high90 = stats.mean_ci(values, level=0.9)
        assert (low90, high90) == pytest.approx(scipy_stats.t.interval(0.9, len(values) - 1, loc=np.mean(values),
                                                                        scale=scipy_stats.sem(values)))
    assert stats.mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    mean, low, high = stats.mean_ci([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        stats.mean_ci([])


@pytest.mark.parametrize("level, band", [(0.95, (0.93, 0.97)), (0.8, (0.77, 0.83))])
def test_mean_ci_covers_the_true_mean_at_its_level(level, band):
    rng = np.random.default_rng(1234)
    samples = rng.normal(0.7, 0.05, size=(2000, 5))
    cis = [stats.mean_ci(s, level=level) for s in samples]
    coverage = np.mean([low < 0.7 < high for _, low, high in cis])
    assert band[0] <= coverage <= band[1], coverage


def test_verdict_on_chosen_intervals():
    m = 0.25  # exact in binary, so the boundaries are exact
    equivalent = {(-0.125, 0.125): "holds", (-0.24, 0.24): "holds", (-0.25, 0.125): "undecided",
                  (-0.125, 0.25): "undecided", (-0.5, 0.5): "undecided", (0.125, 0.5): "undecided",
                  (0.25, 0.5): "undecided", (0.375, 0.5): "fails", (-0.5, -0.375): "fails",
                  (-0.5, -0.25): "undecided"}
    greater = {(0.375, 0.5): "holds", (0.26, 0.3): "holds", (0.25, 0.5): "undecided", (0.125, 0.375): "undecided",
               (0.0, 0.25): "undecided", (0.0, 0.125): "fails", (-0.5, -0.375): "fails"}
    for kind, cases in (("equivalent", equivalent), ("greater", greater)):
        for (low, high), expected in cases.items():
            assert stats.verdict(low, high, kind, m) == expected, (kind, low, high)
        assert stats.verdict(math.nan, math.nan, kind, m) == "undecided"
    with pytest.raises(ValueError) as e:
        stats.verdict(0.0, 0.1, "less", m)
    assert "less" in str(e.value) and "equivalent" in str(e.value)


def test_combine():
    assert stats.combine([]) == "undecided"
    assert stats.combine(["holds"]) == "holds" and stats.combine(["holds"] * 3) == "holds"
    assert stats.combine(["holds", "undecided"]) == "undecided"
    assert stats.combine(["holds", "fails", "undecided"]) == "fails"
    assert stats.combine(["undecided", "fails"]) == "fails" and stats.combine(["undecided"]) == "undecided"
    assert stats.combine(iter(["holds", "holds"])) == "holds"


def test_compare_pairs_by_seed_and_needs_every_model_of_a_side():
    rows = [{"model": m, "seed": s, "test_acc": acc, "extra_acc": {"far": acc - 0.5}}
            for m, accs in (("a1", [0.5, 0.6, 0.7]), ("a2", [0.7, 0.8, 0.9]), ("b", [0.2, 0.4, 0.9]))
            for s, acc in zip((0, 1, 2), accs)]
    c = stats.Comparison("a beats b", stats.Side(("a1", "a2")), stats.Side(("b",)), "greater", 0.1)
    out = stats.compare(rows, c)
    assert out["seeds"] == [0, 1, 2] and out["kind"] == "greater" and out["a"] == ["a1", "a2"]
    diffs = [0.6 - 0.2, 0.7 - 0.4, 0.8 - 0.9]
    assert out["difference"] == pytest.approx(np.mean(diffs)) and out["ci"] == pytest.approx(stats.mean_ci(diffs)[1:])
    # seed 2 without a2: the side has no mean there, so the pair is left out
    out = stats.compare([r for r in rows if (r["model"], r["seed"]) != ("a2", 2)], c)
    assert out["seeds"] == [0, 1] and out["difference"] == pytest.approx(0.35)
    # another test of the same models
    out = stats.compare(rows, stats.Comparison("x", stats.Side(("b",), "far"), stats.Side(("b",)), "equivalent", 0.6))
    assert out["difference"] == pytest.approx(-0.5) and out["verdict"] == "holds" and out["b_test"] == "test"
    out = stats.compare(rows, stats.Comparison("x", stats.Side(("a1",)), stats.Side(("nobody",)), "equivalent", 0.1))
    assert out["seeds"] == [] and out["difference"] is None and out["verdict"] == "undecided"


# ---------------------------------------------------------------- verdicts end to end, fabricated rows

SEEDS = probes.SEEDS


def _extra_names(size: str) -> list[str]:
    return list(extras_of(probes.SUITE[size][0]))


def fabricated_rows(models_and_scores: dict, seeds=SEEDS) -> list[dict]:
    """Zoo rows from {model: f(seed) -> (test_acc, {extra test: acc})}, shuffled."""
    rows = []
    for name, f in models_and_scores.items():
        for seed in seeds:
            test_acc, extra = f(seed)
            rows.append({"model": name, "seed": seed, "dataset": "x", "run_id": f"{name}_seed{seed}",
                         "reused": False, "test_acc": test_acc, "extra_acc": extra, "parameters": 1000,
                         "encoding_parameters": 0, "relative_by_theory": None, "relative_error": None})
    random.Random(0).shuffle(rows)  # the analysis pairs by seed, not by row order
    return rows


def prediction_models() -> dict[str, set[str]]:
    """size -> the models PREDICTIONS compares there."""
    out: dict[str, set[str]] = {}
    for _, comparisons in probes.PREDICTIONS.values():
        for c in comparisons:
            for side in (c.a, c.b):
                for name in side.models:
                    out.setdefault(models.size_of(name), set()).add(name)
    return out


def probe_rows(level, extra_level, jitter: float = 0.002, swing=None) -> list[dict]:
    """Rows of every model PREDICTIONS names: test = shared(seed) + level(model) + noise,
    each extra test = test + extra_level(model) + noise; ``swing`` adds seed-alternating noise per model."""
    rng = np.random.default_rng(7)
    shared = {s: 0.05 * s for s in SEEDS}  # large seed-to-seed noise that every model shares
    table = {}
    for size, names in prediction_models().items():
        for name in sorted(names):
            noise = {s: rng.normal(0, jitter, 3) for s in SEEDS}
            sign = {s: (1, -1, 1, -1, 0)[i] * (swing(name) if swing else 0) for i, s in enumerate(SEEDS)}

            def f(seed, name=name, size=size, noise=noise, sign=sign):
                test = 0.4 + shared[seed] + level(name) + noise[seed][0] + sign[seed]
                return test, {t: test + extra_level(name, t) + noise[seed][1 + i] + sign[seed]
                              for i, t in enumerate(_extra_names(size))}
            table[name] = f
    return fabricated_rows(table)


def _variant(name: str) -> str:
    return zoo.variant_name(name)


def _is_relative(name: str) -> bool:
    return _variant(name) in probes.RELATIVE


def _is_mixed(name: str) -> bool:
    return _variant(name) in probes.MIXED and models.size_of(name) == "probe_diagonal"


def test_prediction_models_are_registered_and_trained_by_the_suite():
    sizes = prediction_models()
    assert set(sizes) == {"probe_diagonal", "probe_shift", "probe_extrapolate"}
    for size, names in sizes.items():
        trained = {f"vit_{v}_{size}" for v in probes.SUITE[size][1]}
        assert names <= trained and names <= set(models.model_names(size)), names - trained
        assert all(models.size_of(n) == size for n in names)
    # every comparison's extra tests exist for its size
    for _, comparisons in probes.PREDICTIONS.values():
        for c in comparisons:
            for side in (c.a, c.b):
                size = models.size_of(side.models[0])
                assert side.test == "test" or side.test in _extra_names(size)


def comparison_verdicts(analysis: dict) -> dict:
    return {pid: [c["verdict"] for c in p["comparisons"]] for pid, p in analysis["predictions"].items()}


def test_probe_predictions_hold():
    # diagonal: mixed 10 points above axial, commuting equal to 2x2 within noise;
    # shift and extrapolation: relative models lose 1 point on the extra tests, the others 40.
    rows = probe_rows(level=lambda n: 0.1 if _is_mixed(n) else 0.0,
                      extra_level=lambda n, t: -0.01 if _is_relative(n) else -0.4)
    analysis = zoo.analyse("probes", rows)
    assert set(analysis["predictions"]) == set(probes.PREDICTIONS)
    for pid, p in analysis["predictions"].items():
        assert p["verdict"] == "holds", (pid, p)
        assert p["statement"] == probes.PREDICTIONS[pid][0]
        for c in p["comparisons"]:
            assert c["seeds"] == list(SEEDS) and c["verdict"] == "holds"
    p2 = analysis["predictions"]["P2"]["comparisons"][0]
    assert p2["difference"] == pytest.approx(0.1, abs=0.005)
    p3 = analysis["predictions"]["P3"]["comparisons"]
    assert [c["difference"] for c in p3] == pytest.approx([-0.01, 0.39, -0.01, 0.39], abs=0.005)
    text = zoo.summary_text("probes", rows, zoo.suite_groups("probes", quick=False), analysis)
    for pid in probes.PREDICTIONS:
        assert f"{pid}: {probes.PREDICTIONS[pid][0]} Verdict: **holds**." in text
    assert "| vit_mixed_rope_2D_2x2_probe_shift | 5 | " in text and "moved by whole patches acc |" in text


def test_probe_predictions_fail():
    # commuting designs 20 points off 2x2, mixed below axial, relative models lose 40 points when moved
    # and do no better than the others there.
    def level(n):
        v = _variant(n)
        return {"commuting_axial_rope_2D_4x4": 0.2, "commuting_axial_rope_2D_8x8": 0.2,
                "commuting_mixed_rope_2D_4x4": -0.3, "commuting_mixed_rope_2D_8x8": -0.3,
                "mixed_rope_2D_2x2": -0.1}.get(v, 0.0) if models.size_of(n) == "probe_diagonal" else 0.0
    rows = probe_rows(level=level, extra_level=lambda n, t: -0.4)
    analysis = zoo.analyse("probes", rows)
    assert {pid: p["verdict"] for pid, p in analysis["predictions"].items()} == dict.fromkeys(probes.PREDICTIONS, "fails")
    assert comparison_verdicts(analysis) == {"P1": ["fails", "fails"], "P2": ["fails"], "P3": ["fails"] * 4}
    text = zoo.summary_text("probes", rows, zoo.suite_groups("probes", quick=False), analysis)
    assert all("Verdict: **fails**." in line for line in text.splitlines() if line.startswith(("P1:", "P2:", "P3:")))


def test_probe_predictions_undecided_under_large_noise():
    # the means of the "holds" case, under noise of sd 0.3 that differs between models and tests
    rows = probe_rows(level=lambda n: 0.1 if _is_mixed(n) else 0.0,
                      extra_level=lambda n, t: -0.01 if _is_relative(n) else -0.4, jitter=0.3)
    analysis = zoo.analyse("probes", rows)
    assert {pid: p["verdict"] for pid, p in analysis["predictions"].items()} == \
        dict.fromkeys(probes.PREDICTIONS, "undecided"), comparison_verdicts(analysis)
    for p in analysis["predictions"].values():
        for c in p["comparisons"]:
            low, high = c["ci"]
            assert high - low > 2 * c["margin"] and c["verdict"] in ("undecided", "holds")


def test_a_missing_run_leaves_its_seed_out_of_the_comparison():
    rows = probe_rows(level=lambda n: 0.1 if _is_mixed(n) else 0.0,
                      extra_level=lambda n, t: -0.01 if _is_relative(n) else -0.4)
    rows = [r for r in rows if (r["model"], r["seed"]) != ("vit_commuting_axial_rope_2D_8x8_probe_diagonal", 4)]
    analysis = zoo.analyse("probes", rows)
    p1_axial, p1_mixed = analysis["predictions"]["P1"]["comparisons"]
    assert p1_axial["seeds"] == [0, 1, 2, 3] and p1_mixed["seeds"] == list(SEEDS)
    assert analysis["predictions"]["P2"]["comparisons"][0]["seeds"] == [0, 1, 2, 3]
    assert analysis["predictions"]["P1"]["verdict"] == "holds"
    # one seed left: no interval, so undecided
    one = [r for r in rows if r["seed"] == 0]
    for p in zoo.analyse("probes", one)["predictions"].values():
        assert p["verdict"] == "undecided" and all(c["seeds"] == [0] for c in p["comparisons"])
    assert all(p["verdict"] == "undecided" for p in zoo.analyse("probes", [])["predictions"].values())


# ---------------------------------------------------------------- the digits equivalence

def digits_rows(offsets: dict, shared=(0.3, 0.9, 0.5, 0.75, 0.6), jitter=0.001) -> list[dict]:
    """REFERENCE scores shared[seed]; each other model shared[seed] + its offset(seed) + a little noise."""
    rng = np.random.default_rng(11)
    table = {zoo.REFERENCE: lambda s: (shared[s], {})}
    for name, offset in offsets.items():
        noise = rng.normal(0, jitter, len(SEEDS))
        table[name] = lambda s, offset=offset, noise=noise: (shared[s] + offset(s) + noise[s], {})
    return fabricated_rows(table)


def test_digits_equivalence_verdicts():
    m = zoo.EQUIVALENCE_MARGIN
    close, far, noisy, other_size = ("vit_rope_2D_axial_2x2_matched_digits", "vit_no_rope_matched_digits",
                                     "vit_liere_rope_2D_4x4_matched_digits", "vit_no_rope_digits")
    assert {models.size_of(n) for n in (close, far, noisy)} == {"matched_digits"} and zoo.REFERENCE in models.REGISTRY
    rows = digits_rows({close: lambda s: m / 3, far: lambda s: -3 * m,
                        noisy: lambda s: (0.3, -0.3, 0.25, -0.25, 0.0)[s], other_size: lambda s: -0.5})
    analysis = zoo.analyse("digits", rows)
    eq = analysis["equivalence"]
    assert eq["reference"] == zoo.REFERENCE and eq["margin"] == m
    by_model = {c["a"][0]: c for c in eq["comparisons"]}
    assert set(by_model) == {close, far, noisy}  # the reference and other sizes are not compared
    assert all(c["b"] == [zoo.REFERENCE] and c["kind"] == "equivalent" and c["seeds"] == list(SEEDS)
               for c in by_model.values())
    assert {n: c["verdict"] for n, c in by_model.items()} == {close: "holds", far: "fails", noisy: "undecided"}
    assert by_model[close]["difference"] == pytest.approx(m / 3, abs=0.002)
    assert by_model[far]["difference"] == pytest.approx(-3 * m, abs=0.002)
    groups = [zoo.Group("digits", (zoo.REFERENCE, close, far, noisy), SEEDS, 1)]
    text = zoo.summary_text("digits", rows, groups, analysis)
    assert f"| rope_2D_axial_2x2 | {zoo.fmt_difference(by_model[close])} | equivalent |" in text
    assert "| no_rope | " in text and "| differs |" in text and "| liere_rope_2D_4x4 | " in text
    assert "| undecided |" in text and f"+-{m}" in text
    # no matched model besides the reference: no comparisons and no table
    only = [r for r in rows if r["model"] in (zoo.REFERENCE, other_size)]
    assert zoo.analyse("digits", only)["equivalence"]["comparisons"] == []
    assert "difference | verdict" not in zoo.summary_text("digits", only, groups, zoo.analyse("digits", only))


def test_digits_equivalence_is_paired_by_seed():
    """Seeds move both models by +-0.3 together; their paired difference is 0.01 at every seed."""
    m = zoo.EQUIVALENCE_MARGIN
    name = "vit_commuting_mixed_rope_2D_4x4_matched_digits"
    assert name in models.REGISTRY and name != zoo.REFERENCE
    rows = digits_rows({name: lambda s: 0.01})
    (c,) = zoo.analyse("digits", rows)["equivalence"]["comparisons"]
    assert c["verdict"] == "holds" and c["difference"] == pytest.approx(0.01, abs=0.002)
    assert -m < c["ci"][0] and c["ci"][1] < m
    # Unpaired, the two models' intervals are each far wider than the margin: only the pairing decides.
    for model in (name, zoo.REFERENCE):
        _, low, high = stats.mean_ci([r["test_acc"] for r in rows if r["model"] == model])
        assert high - low > 4 * m
    welch = scipy_stats.ttest_ind([r["test_acc"] for r in rows if r["model"] == name],
                                  [r["test_acc"] for r in rows if r["model"] == zoo.REFERENCE], equal_var=False)
    low, high = welch.confidence_interval(0.95)
    assert stats.verdict(low, high, "equivalent", m) == "undecided"
    # Pairing by row order instead of by seed would break it: shuffle the seeds of one model.
    relabelled = [{**r, "seed": (r["seed"] + 1) % 5} if r["model"] == name else r for r in rows]
    (c,) = zoo.analyse("digits", relabelled)["equivalence"]["comparisons"]
    assert c["verdict"] == "undecided"


def test_one_seed_gives_no_interval_and_strict_json():
    import json

    from training import zoo

    rows = [{"model": m, "seed": 0, "test_acc": 0.5, "extra_acc": {}} for m in (zoo.REFERENCE, "vit_no_rope_matched_digits")]
    c = zoo.analyse("digits", rows)["equivalence"]["comparisons"][0]
    assert c["ci"] is None and c["verdict"] == "undecided"
    json.dumps(c, allow_nan=False)  # NaN would make the summary unreadable to strict JSON parsers
    assert zoo.fmt_difference(c) == "+0.0000"


def test_no_equivalence_table_without_the_reference():
    from training import zoo

    rows = [{"model": "vit_no_rope_matched_digits", "seed": s, "test_acc": 0.5, "extra_acc": {}} for s in range(3)]
    assert zoo.analyse("digits", rows)["equivalence"]["comparisons"] == []
