"""The Fashion-MNIST suite (`rope-blocks zoo --suite fashion`): the seed's question on real images.

The seed asks whether k x k rotation blocks help a ViT on natural images. Its CIFAR10 runs cannot be
made here; Fashion-MNIST's 10,000 test images can resolve differences of a few tenths of a point.

What the theory promises, and what it does not:

* Test accuracy: nothing. T5 gives every relative design (axial, mixed, givens, commuting with any
  basis and k) the function class of RoPE-Mixed, the learned basis folding into W_q and W_k; whether
  training reaches the same accuracy from another parametrisation is an optimisation question,
  which the comparisons below measure. The weighted blocks (not orthogonal) and LieRE 4x4 (its
  generators do not commute) are not relative; the absolute embedding is the seed's baseline.
* Resolution (the test images resized to 40x40 and 56x56: 10x10 and 14x14 grids of 4x4 patches;
  42x42 would leave 2 pixels outside the patch grid): a relative design's logits depend on the
  offsets between tokens. On integer grid coordinates ("grid") the larger grid holds offsets never
  seen in training (extrapolation); rescaled to the training grid's extent ("rescaled") it holds
  fractional offsets inside the trained range (interpolation, what the absolute embedding does when
  it is resampled). Neither is promised to keep accuracy: the objects are also larger in pixels,
  and training teaches nothing about scale (no random-resized crops here, unlike RoPE-ViT, whose
  multi-resolution results come from models trained with them).
* Translation (the 28x28 image on a 44x44 canvas, an 11x11 grid, centred or moved by whole patches
  to a corner): a relative design is exactly invariant only when every token moves rigidly. The
  blank canvas tokens are content too (they normalise to the same value as the image's own black
  background), and moving the image changes which of them surround it, so the invariance is
  approximate; the pooling is a mean over patch tokens, since a class token's unrotated query would
  read absolute positions through the rotated keys. The absolute embedding is resampled to the canvas.

The extra tests are reported with intervals, without verdicts: no theorem predicts their accuracy.
They score the first EXTRA_IMAGES test images (their cost grows with the square of the token count);
for translation the comparison that isolates placement is a corner against centred, on the same canvas.

The design, fixed here before the record run:

* Models: VARIANTS at the `fashion` size (depth 4, 4 heads of width 24, no dropout, mean pooling),
  scored at the epoch of best validation accuracy (6,000 training images held out), on the 10,000
  test images and on the extra tests.
* Training: EPOCHS epochs of the 54,000 remaining training images, batch BATCH_SIZE, AdamW at LR with
  WARMUP_EPOCHS of linear warm-up and a cosine schedule, bf16 autocast (AMP) with attention written
  out on the CPU; SEEDS paired across models (same batches, same initial weights outside the encoding).
* Comparisons: every other model against REFERENCE on test accuracy, the paired difference over seeds
  with its Student-t interval at level 1 - 0.05 / 8 (Bonferroni over the 8 comparisons, a 95% family
  level); equivalent when the interval lies within +-MARGIN (one point), different when it lies
  wholly outside, undecided otherwise.

Sized by a pilot of RoPE-Mixed 2x2 on seeds 100-103, outside SEEDS (results/fashion_pilot/; it says
nothing about differences between designs), trained as above for 2 epochs, on 1 CPU thread each, two
at once. RoPE-Mixed learns: test accuracy 0.834-0.842 in bf16 (0.811-0.817 after one epoch; the
12-epoch fp32 pilot on seeds 100-101 reached 0.882), 0.8379 on average with a seed-to-seed standard
deviation of 0.33 points (fp32: 0.8382 and 0.27). bf16 against fp32 on the same seeds: -0.03 points
on average (paired differences -0.19 to +0.19, standard deviation 0.16), inside the seed spread; bf16
trains 1.35x faster (180-198 s against 241-265 s for the two epochs). A run, with its evaluations and
extra tests, takes about 4 minutes; the nine models' bf16 steps run at 0.75-1.23x RoPE-Mixed's time
(`rope-blocks bench step`, 1.04x on average), so 9 x 8 runs take about 2.4 hours on 2 cores. A
difference of two models, seed by seed, should then spread by about sqrt(2) x 0.3 = 0.42 points, and
its corrected interval at 8 seeds be about +-0.57 points wide: a half-point margin could not be met
even by identical models (it would need 16-24 seeds, 2-3x the budget), so the margin is one point.
"""

from __future__ import annotations

from pathlib import Path

import torch

from records import provenance
from records.model_id import ModelId
from records.stats import Comparison, Side

from . import data
from .evaluation import ExtraTest

SIZE = "fashion"
# The absolute embedding, RoPE-Axial and RoPE-Mixed 2x2, the commuting mixed design with a learned
# basis at k = 4 and 8, the commuting axial design at k = 4, the seed's best k x k rows on CIFAR10
# (Givens 3x3, 69.0 and 69.1% against 70.4% for 2x2 axial) and its weighted 3x3 block, and LieRE 4x4.
VARIANTS = (
    "no_rope",
    "rope_2D_axial_2x2",
    "mixed_rope_2D_2x2",
    "commuting_mixed_rope_2D_4x4",
    "commuting_mixed_rope_2D_8x8",
    "commuting_axial_rope_2D_4x4",
    "rope_2D_axial_3x3_0",
    "weighted_rope_2D_axial_3x3",
    "liere_rope_2D_4x4",
)
QUICK_VARIANTS = ("no_rope", "rope_2D_axial_2x2", "mixed_rope_2D_2x2")
REFERENCE = "mixed_rope_2D_2x2"
SEEDS = tuple(range(8))
EPOCHS = 2
BATCH_SIZE = 128
LR = 1e-3
WARMUP_EPOCHS = 0.2
AMP = True  # bf16 autocast: 1.34x the fp32 images/s here; the pilot checks it against fp32
EXTRA_IMAGES = 1000  # the first test images, for the resolution and translation tests
QUICK_IMAGES = 1000  # per split in the quick suite: a look at the pipeline, never a result
MARGIN = 0.01  # equivalence to RoPE-Mixed within one point of test accuracy
FAMILY_LEVEL = 0.95  # Bonferroni: each of the m comparisons at level 1 - 0.05 / m
TEST = (
    "paired by seed: the Student-t interval of the mean difference in test accuracy at level "
    "1 - 0.05 / m over the m comparisons (Bonferroni); equivalent when it lies within +-MARGIN, "
    "different when it lies wholly outside, undecided otherwise"
)
RESOLUTIONS = (40, 56)
CANVAS = 44
POSITIONS = ("grid", "rescaled")


def names(variants=VARIANTS) -> tuple[str, ...]:
    return tuple(ModelId.name(v, SIZE) for v in variants)


def comparisons() -> list[Comparison]:
    """Every other model against RoPE-Mixed on test accuracy: equivalent within MARGIN, Bonferroni-corrected."""
    reference, others = names((REFERENCE,))[0], [n for n in names() if not n.endswith(f"_{REFERENCE}_{SIZE}")]
    level = 1 - (1 - FAMILY_LEVEL) / len(others)
    return [
        Comparison(
            f"{n} is within {MARGIN} of {reference}", Side((n,)), Side((reference,)), "equivalent", MARGIN, level
        )
        for n in others
    ]


def design() -> dict:
    """The design as the summary quotes it: this module's statement, its settings and the commit that fixed them."""
    return {
        "file": str(Path(__file__).resolve().relative_to(provenance.REPO)),
        "commit": provenance.last_change(Path(__file__)),
        "statement": __doc__,
        "models": list(names()),
        "reference": names((REFERENCE,))[0],
        "seeds": list(SEEDS),
        "epochs": EPOCHS,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "warmup_epochs": WARMUP_EPOCHS,
        "amp": AMP,
        "margin": MARGIN,
        "family_level": FAMILY_LEVEL,
        "test": TEST,
        "extra_images": EXTRA_IMAGES,
        "resolutions": list(RESOLUTIONS),
        "positions": list(POSITIONS),
        "canvas": CANVAS,
    }


def extra_tests(splits: data.Splits) -> dict[str, ExtraTest]:
    """The resolution and translation tests, made from the test split."""
    images, labels = splits.test.images[:EXTRA_IMAGES], splits.test.labels[:EXTRA_IMAGES]
    tests = {
        f"{size}x{size} {positions}": ExtraTest(images, labels, size, positions)
        for size in RESOLUTIONS
        for positions in POSITIONS
    }
    side = images.shape[-1]
    centre = (CANVAS - side) // 2
    for name, offset in (("centred", centre), ("top-left", 0), ("bottom-right", CANVAS - side)):
        tests[f"canvas {name}"] = ExtraTest(on_canvas(images, CANVAS, offset), labels)
    return tests


def on_canvas(images: torch.Tensor, canvas: int, offset: int) -> torch.Tensor:
    """uint8 (N, C, h, w) images pasted at (offset, offset) of a blank (N, C, canvas, canvas) canvas."""
    n, c, h, w = images.shape
    if not 0 <= offset <= canvas - max(h, w):
        raise ValueError(f"offset {offset} puts a {h}x{w} image outside a {canvas}x{canvas} canvas.")
    out = images.new_zeros(n, c, canvas, canvas)
    out[:, :, offset : offset + h, offset : offset + w] = images
    return out
