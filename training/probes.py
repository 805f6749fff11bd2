"""Probe tasks: generated images whose labels follow a rule the theory makes predictions about.

Every task is generated in memory from a seed (the run's `--seed`), so a seed gives every model
the same images, and labels are balanced by rejection sampling: draw a label, then draw layouts
until one has it, so the layouts of a class follow their natural distribution given the label.
Marks are whole tokens (patch 1) or patch-aligned glyphs (patch 2): content alone, a bag of
tokens, never tells the classes apart; only where the marks are relative to each other does.

* `probe_diagonal` (prediction P2, separability): an 8x8 grid with one anchor (channel 0) and
  three distractor marks (channel 1); label 1 when a distractor lies on a diagonal or
  anti-diagonal through the anchor (|d_row| = |d_col|). For fixed content an axial head's
  attention factors into a row part times a column part (theory T11); a mixed design can make
  the logit a function of d_row - d_col (and d_row + d_col).
* `probe_quadrant` (P3, translation): 16x16 images of two different 2x2 glyphs (of four) two
  patches apart; the class is the direction from one to the other. Training places the pair
  anywhere that avoids the bottom-right quadrant (HELD_OUT); the extra tests place it inside
  that quadrant, never seen in training, and the same images moved by whole patches into the
  trained top-left quadrant (PAIRED).
* `probe_extrapolate` (P3, resolution): one anchor and three distractor marks on a grid; label 1
  when a distractor touches the anchor (8-neighbourhood). Trained on 8x8 grids and tested on
  12x12 and 16x16 grids with the same rule and the same number of marks, as in RoPE-ViT's
  resolution test, and on 16x16 grids whose marks lie in an 8x8 window (no offset unseen in
  training), beside the same marks cropped to 8x8 (PAIRED).

The suite that trains on them, and what it predicts, is training/probe_suite.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

TASKS = ("probe_diagonal", "probe_extrapolate", "probe_quadrant")
SIZES = {"train": 4096, "val": 512, "test": 1024}  # examples per split, every task
MARKS = 3  # distractor marks next to the anchor
GRID = 8  # the training grid side (tokens) of every task
EXTRAPOLATION_GRIDS = (12, 16)
QUADRANT_CANVAS = 16  # probe_quadrant's image side in pixels (2x2 patches: an 8x8 token grid)
DIRECTIONS = ((0, 4), (0, -4), (4, 0), (-4, 0))  # second glyph relative to the first, pixels
# Distinct streams of one seed: every split and every extra test draws its own examples.
_STREAMS = {"train": 0, "val": 1, "test": 2}


def on_diagonal(anchor: tuple[int, int], mark: tuple[int, int]) -> bool:
    dr, dc = mark[0] - anchor[0], mark[1] - anchor[1]
    return abs(dr) == abs(dc) != 0


def touching(anchor: tuple[int, int], mark: tuple[int, int]) -> bool:
    return max(abs(mark[0] - anchor[0]), abs(mark[1] - anchor[1])) == 1


def marks_images(
    n: int, grid: int, rule: Callable, rng: np.random.Generator, window: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 2, grid, grid) uint8 images (anchor in channel 0, marks in channel 1) and balanced labels.

    The label is 1 when ``rule(anchor, mark)`` holds for any of the MARKS distractors. With ``window``, all
    marks of an image lie in one window x window square, placed at random: a larger grid whose marks keep
    the offsets of a smaller one.
    """
    images = np.zeros((n, 2, grid, grid), np.uint8)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    side = window or grid
    for i, label in enumerate(labels):
        while True:
            # Drawn only with a window, so that the images without one stay what they were.
            top, left = (int(rng.integers(0, grid - side + 1)) for _ in range(2)) if window else (0, 0)
            cells = rng.choice(side * side, size=MARKS + 1, replace=False)
            anchor, *marks = [(top + int(c) // side, left + int(c) % side) for c in cells]
            if any(rule(anchor, m) for m in marks) == bool(label):
                break
        images[i, 0, anchor[0], anchor[1]] = 255
        for r, c in marks:
            images[i, 1, r, c] = 255
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


# Four 2x2 glyphs for the quadrant task: a square, both diagonals and a bar; an image holds two different ones.
QUADRANT_GLYPHS = tuple(
    np.array(g, np.uint8) for g in ([[1, 1], [1, 1]], [[1, 0], [0, 1]], [[0, 1], [1, 0]], [[1, 1], [0, 0]])
)
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
HELD_OUT = "bottom-right"  # probe_quadrant trains on the other three
# Extra tests that hold the same layouts, moved by whole patches or cropped to the training grid: a
# relative design on content tokens only gives both the same logits (the zoo scores their pair_error).
PAIRED = {
    "probe_quadrant": ("held-out quadrant", "moved to a trained quadrant"),
    "probe_extrapolate": ("16x16 grid, marks in 8x8", "the same marks cropped to 8x8"),
}


def quadrants_touched(top: int, left: int, height: int, width: int, canvas: int) -> set[str]:
    """The quadrants of a canvas x canvas image that the box of pixels [top, top+height) x [left, left+width) meets."""
    half = canvas // 2
    rows = {r for r, (lo, hi) in enumerate(((0, half), (half, canvas))) if top < hi and top + height > lo}
    cols = {c for c, (lo, hi) in enumerate(((0, half), (half, canvas))) if left < hi and left + width > lo}
    return {QUADRANTS[2 * r + c] for r in rows for c in cols}


def quadrant_images(
    n: int, canvas: int, allowed: set[str], rng: np.random.Generator, within: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, canvas, canvas) images of two different glyphs two patches apart, and the direction labels 0..3
    (DIRECTIONS: from the glyph earlier in QUADRANT_GLYPHS to the later one).

    Every placement is patch-aligned (2x2 patches). The pair's bounding box meets only the ``allowed``
    quadrants (``within``: it lies inside one of them), so a quadrant left out of training is never seen
    there, and no image drawn for it can be a training image.
    """
    images = np.zeros((n, 1, canvas, canvas), np.uint8)
    labels = np.arange(n) % len(DIRECTIONS)
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        dr, dc = DIRECTIONS[label]
        height, width = 2 + abs(dr), 2 + abs(dc)
        while True:
            top, left = (2 * int(rng.integers(0, (canvas - extent) // 2 + 1)) for extent in (height, width))
            touched = quadrants_touched(top, left, height, width, canvas)
            if touched <= allowed and (len(touched) == 1 or not within):
                break
        first = (top + max(0, -dr), left + max(0, -dc))
        second = (first[0] + dr, first[1] + dc)
        shapes = np.sort(rng.choice(len(QUADRANT_GLYPHS), size=2, replace=False))  # the first: the lower index
        for shape, (r, c) in zip(shapes, (first, second)):
            images[i, 0, r : r + 2, c : c + 2] = 255 * QUADRANT_GLYPHS[shape]
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def crop_to_marks(images: torch.Tensor, side: int) -> torch.Tensor:
    """(n, C, side, side): each image cut at the top-left corner of its marks' bounding box (which fits)."""
    out = images.new_zeros(*images.shape[:2], side, side)
    for i, image in enumerate(images):
        rows, cols = image.any(0).nonzero(as_tuple=True)
        top, left = min(int(rows.min()), image.shape[-2] - side), min(int(cols.min()), image.shape[-1] - side)
        out[i] = image[:, top : top + side, left : left + side]
    return out


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _generate(task: str, split: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, rng = SIZES[split], _rng(seed, _STREAMS[split])
    if task == "probe_diagonal":
        return marks_images(n, GRID, on_diagonal, rng)
    if task == "probe_extrapolate":
        return marks_images(n, GRID, touching, rng)
    return quadrant_images(n, QUADRANT_CANVAS, set(QUADRANTS) - {HELD_OUT}, rng)


def splits(task: str, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"train", "val", "test"}: (uint8 images, labels) of ``task`` drawn from ``seed``."""
    _check_task(task)
    return {split: _generate(task, split, seed) for split in _STREAMS}


def extra_tests(task: str, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The task's tests outside the training distribution, name -> (uint8 images, labels)."""
    _check_task(task)
    n = SIZES["test"]
    if task == "probe_extrapolate":
        tests = {f"{g}x{g} grid": marks_images(n, g, touching, _rng(seed, 10 + g)) for g in EXTRAPOLATION_GRIDS}
        g = EXTRAPOLATION_GRIDS[-1]  # the larger grid without offsets unseen in training
        images, labels = marks_images(n, g, touching, _rng(seed, 30), GRID)
        return tests | {
            f"{g}x{g} grid, marks in {GRID}x{GRID}": (images, labels),
            f"the same marks cropped to {GRID}x{GRID}": (crop_to_marks(images, GRID), labels),
        }
    if task == "probe_quadrant":
        images, labels = quadrant_images(n, QUADRANT_CANVAS, {HELD_OUT}, _rng(seed, 10), within=True)
        half = QUADRANT_CANVAS // 2  # the same layouts moved by whole patches into the trained top-left quadrant
        return {
            "held-out quadrant": (images, labels),
            "moved to a trained quadrant": (images.roll((-half, -half), (2, 3)), labels),
        }
    return {}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown probe task {task!r}; the probe tasks are {', '.join(TASKS)}.")
