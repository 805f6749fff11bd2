"""The probe suite (`rope-blocks zoo --suite probes`): predictions P1-P3, each derived exactly and measured
where it lives. The tasks are in training/probes.py; this module is the design, fixed before the record run.

What the theory says, and what it does not:

* P1 (theory T5, absorption). Every relative design (RoPE-Axial, RoPE-Mixed, the seed's Givens blocks,
  the commuting designs with a learned basis, any k) is a 2x2 RoPE model whose W_q and W_k absorb the
  basis: the same function, not merely the same accuracy. Measured on every relative run of the suite:
  the trained model and its export to plain 2x2 RoPE (training/export.py) give logits within a relative
  EXACT on the first export.EXPORT_IMAGES test images (``export_error``, fp32). The runs that put the
  theorem to work are those of Givens 3x3 and of the commuting mixed design k = 4 with a learned basis
  (on probe_quadrant_content); a 2x2 design's export only re-lays its planes and frequencies.
  Whether a learned k x k basis changes what training reaches is an optimisation question, which no
  theorem settles; the Fashion-MNIST suite (training/fashion_suite.py) answers it as an equivalence
  test with a margin, not this suite.
* P2 (theory T11, separability). For fixed content an axial head (RoPE-Axial, Givens, the commuting
  axial design) attends over a full grid of keys with weights r(d_row) c(d_col), so its KL divergence
  from a target pattern is at least that pattern's row-column mutual information: log 2 for the pair of
  diagonal neighbours {(1, 1), (-1, -1)}. Measured where it lives, on one head (training/head_fit.py,
  HEAD_FIT_VARIANTS at head width 48, where every axial design gives the two axes equal planes): the
  lowest KL that Adam reaches from HEAD_FIT_STARTS starts. Checks (head_fit.table): a control, every
  head reaching a product target (one diagonal neighbour) below head_fit.CONTROL_KL, without which the
  other two are undecided, since a fit stuck above the floor could be the optimiser's failure; every
  axial design stays at or above log 2 (T11 guarantees it: a check of the implementation); every mixed
  design goes below it (what a mixed head can do and an axial one cannot). The axial heads need not
  reach the floor itself: with fixed frequencies the product that attains it may lie outside what a
  design's head can express. At the level of a model the theorem is silent: an MLP
  after attention and a second head can combine product patterns, so the depth-1 diagonal task
  (probe_diagonal_content: content tokens only, head width 48) is measured, with intervals and no
  verdict: each model's test accuracy and the difference mixed - axial.
* P3 (theory T1, the relative property). With content tokens only (blank tokens out of attention and
  out of the mean pool: ViTConfig.blank_value), moving every content token by whole patches leaves every
  logit of a relative design unchanged, and so does cutting away blank margin: the same layouts give the
  same logits. Measured on every relative run of the content-only tasks, in float64 so that only
  rounding remains: ``pair_error`` (the largest logit difference over all images over the largest
  logit) between the held-out quadrant and the same images moved to a trained quadrant
  (probe_quadrant_content), and between 16x16 grids whose marks lie in an 8x8 window and the same marks
  cropped to 8x8 (probe_extrapolate_content), within PAIR_EXACT. The absolute embedding has no such
  guarantee; its pair errors are reported. Nothing is promised (so intervals, no verdicts) where the
  theorem does not reach: with the blank tokens kept (probe_quadrant), moving the content moves the
  canvas boundary relative to it, and the held-out quadrant's accuracy may differ from the moved
  images'; with the blank tokens kept on the extrapolation task (probe_extrapolate), the windowed 16x16
  grid holds the cropped 8x8 grid's offsets among the marks and more background (the background's
  growth alone); on content tokens, a 16x16 grid whose marks spread over it holds offsets never seen
  in training (its difference from the windowed test, whose negatives also come from another
  distribution of layouts).

Scoring: every run is scored at the epoch of lowest validation loss (SELECT), never the first of tied
accuracies; validation at 1.00 or at chance still orders epochs by loss. Training images are never test
images: the quadrant task trains on three quadrants and tests on the fourth (probes.HELD_OUT).

Statistics: runs are paired by seed (same images, same initial weights outside the encoding). Every
measured quantity gets a paired Student-t interval over SEEDS at level 1 - 0.05 / m for the m intervals
of the suite (Bonferroni: a 95% family level), cut to the values it can take ([0, 1] for an accuracy,
[-1, 1] for a difference; records.stats.estimate), which costs no coverage. Not the BCa bootstrap: at 10
seeds and this level its simultaneous coverage is about 69%, Student-t's about 95%
(proofs_tests/test_stats.py simulates both). The exact claims are bounds over every run, with no
interval: one run above the bound refutes them.

Sized by pilots on seed 100, outside SEEDS (results/probes_pilot/; they say nothing about differences
between designs): the quadrant tasks and probe_extrapolate_content are learned in 10 epochs at learning
rate 3e-3 (test 1.00 for the relative designs); probe_diagonal_content is not learned reliably at 3e-3
(test 0.50-0.74 at 20 epochs, worse at 60) and is learned at 1e-3 in 20 epochs (the better 2x2 design
at 0.91, validation still improving), so it trains at 1e-3. Runs took 35-145 s each on one
thread of the 2-core machine while a third process shared it (about 2/3 of a core each): about 9,000
s of one loaded thread for the 130 runs here, so about 50 minutes two at a time on idle cores, and a
few more for the head-level fit, inside the 60-minute budget.
"""

from __future__ import annotations

from pathlib import Path

from records import provenance
from records.model_id import ModelId
from records.stats import Bound, Estimate, Side

from . import probes

SEEDS = tuple(range(10))
BATCH_SIZE = 32
SELECT = "val_loss"
FAMILY_LEVEL = 0.95
EXACT = 1e-5  # the bound of P1's export error (relative, fp32)
PAIR_EXACT = 1e-9  # the bound of P3's pair error (relative, float64)
TEST = (
    "exact claims: a bound on every run, no interval; measured quantities: paired Student-t intervals over the "
    "seeds at level 1 - 0.05 / m over the suite's m intervals (Bonferroni), cut to the quantity's range, no verdict"
)

ABSOLUTE = "no_rope"
AXIAL = "rope_2D_axial_2x2"
MIXED = "mixed_rope_2D_2x2"
RELATIVE_K = "commuting_mixed_rope_2D_4x4"  # a relative k x k design with a learned basis
GIVENS = "rope_2D_axial_3x3_0"  # the seed's Givens 3x3 blocks, relative


# size -> (task, variants, epochs, learning rate)
GROUPS = {
    "probe_diagonal_content": ("probe_diagonal", (AXIAL, MIXED), 20, 1e-3),
    "probe_quadrant": ("probe_quadrant", (AXIAL, MIXED), 10, 3e-3),
    "probe_quadrant_content": ("probe_quadrant", (ABSOLUTE, AXIAL, MIXED, GIVENS, RELATIVE_K), 10, 3e-3),
    "probe_extrapolate": ("probe_extrapolate", (AXIAL, MIXED), 10, 3e-3),
    "probe_extrapolate_content": ("probe_extrapolate", (AXIAL, MIXED), 10, 3e-3),
}
QUICK_VARIANTS = (ABSOLUTE, AXIAL, MIXED)  # of each group's
DESIGN_FILES = (
    "training/probe_suite.py",
    "training/probes.py",
    "training/models.py",
    "training/head_fit.py",
    "training/export.py",
    "training/evaluation.py",
    "records/stats.py",
)
QUICK_EPOCHS = 2
QUICK_IMAGES = 1024  # per split in the quick suite: a look at the pipeline, never a result

HEAD_FIT_VARIANTS = {
    "axial": ("rope_2D_axial_2x2", "rope_2D_axial_3x3_0", "commuting_axial_rope_2D_4x4"),
    "mixed": ("mixed_rope_2D_2x2", "commuting_mixed_rope_2D_4x4"),
}
HEAD_FIT_STARTS = 3
QUICK_HEAD_FIT_STEPS = 150
QUICK_HEAD_FIT = {"axial": ("rope_2D_axial_2x2",), "mixed": ("mixed_rope_2D_2x2",)}


def name(variant: str, size: str) -> str:
    return ModelId.name(variant, size)


def names(size: str, variants=None) -> tuple[str, ...]:
    return tuple(name(v, size) for v in (GROUPS[size][1] if variants is None else variants))


def _relative(size: str) -> tuple[str, ...]:
    return names(size, [v for v in GROUPS[size][1] if v != ABSOLUTE])


def bounds() -> dict[str, list[Bound]]:
    """The exact claims: P1 on every relative run, P3 on every relative content-only run."""
    quadrant, extrapolate = probes.PAIRED["probe_quadrant"], probes.PAIRED["probe_extrapolate"]
    return {
        "P1": [
            Bound(
                f"every relative run exports to 2x2 RoPE with logits within {EXACT:g}",
                tuple(n for size in GROUPS for n in _relative(size)),
                "export_error",
                EXACT,
            )
        ],
        "P3": [
            Bound(
                f"content tokens only: {quadrant[0]} and {quadrant[1]} give the same logits (within {PAIR_EXACT:g})",
                _relative("probe_quadrant_content"),
                "pair_error",
                PAIR_EXACT,
            ),
            Bound(
                f"content tokens only: {extrapolate[0]} and {extrapolate[1]} give the same logits "
                f"(within {PAIR_EXACT:g})",
                _relative("probe_extrapolate_content"),
                "pair_error",
                PAIR_EXACT,
            ),
        ],
    }


def _estimates() -> dict[str, list[tuple[str, Side, Side | None]]]:
    """What is measured without a verdict: (claim, A, B or None for A alone)."""
    d = "probe_diagonal_content"
    out: dict[str, list] = {"P2": []}
    for v in (AXIAL, MIXED):
        out["P2"].append((f"depth-1 diagonal task: {v} test accuracy", Side((name(v, d),)), None))
    out["P2"].append(("depth-1 diagonal task: mixed - axial", Side((name(MIXED, d),)), Side((name(AXIAL, d),))))
    held, moved = probes.PAIRED["probe_quadrant"]
    out["P3"] = [
        (
            f"background kept: {v} {held} - {moved}",
            Side((name(v, "probe_quadrant"),), held),
            Side((name(v, "probe_quadrant"),), moved),
        )
        for v in GROUPS["probe_quadrant"][1]
    ]
    out["P3"].append(
        (
            f"content tokens only: {ABSOLUTE} {held} - {moved}",
            Side((name(ABSOLUTE, "probe_quadrant_content"),), held),
            Side((name(ABSOLUTE, "probe_quadrant_content"),), moved),
        )
    )
    g = probes.EXTRAPOLATION_GRIDS[-1]
    windowed, cropped = probes.PAIRED["probe_extrapolate"]
    out["P3"] += [
        (
            f"background kept, the background's growth: {v} {windowed} - {cropped}",
            Side((name(v, "probe_extrapolate"),), windowed),
            Side((name(v, "probe_extrapolate"),), cropped),
        )
        for v in GROUPS["probe_extrapolate"][1]
    ]
    out["P3"] += [
        (
            f"content tokens only, unseen offsets: {v} {g}x{g} grid - {windowed}",
            Side((name(v, "probe_extrapolate_content"),), f"{g}x{g} grid"),
            Side((name(v, "probe_extrapolate_content"),), windowed),
        )
        for v in GROUPS["probe_extrapolate_content"][1]
    ]
    return out


def estimates() -> dict[str, list[Estimate]]:
    """The measured intervals, paired Student-t at the Bonferroni level over all of them."""
    claims = _estimates()
    level = 1 - (1 - FAMILY_LEVEL) / sum(map(len, claims.values()))
    return {pid: [Estimate(c, a, b, level, "t") for c, a, b in group] for pid, group in claims.items()}


STATEMENTS = {
    "P1": "A relative k x k design is 2x2 RoPE with W_q and W_k absorbing its basis (T5): every relative run "
    f"exports exactly (logits within {EXACT:g}).",
    "P2": "One axial head cannot weight the diagonal pair {(1,1), (-1,-1)} without the anti-diagonal one: "
    "its KL divergence to that pattern is at least log 2 (T11); a mixed head has no such floor. At the "
    "level of a model the theorem is silent: the depth-1 diagonal task is measured, not predicted.",
    "P3": "On content tokens only, a relative design gives the same logits to the same layout moved by "
    f"whole patches or with blank margin cut away (T1; within {PAIR_EXACT:g} in float64). With the background "
    "kept, or with offsets unseen in training, nothing is promised: measured.",
}


def design() -> dict:
    """The design as the summary quotes it: this module's statement, its settings and the commit that fixed them."""
    return {
        "file": str(Path(__file__).resolve().relative_to(provenance.REPO)),
        # The design and the code whose settings it names: tasks, sizes, the head-level fit, export, statistics.
        "commit": provenance.last_change(*(provenance.REPO / f for f in DESIGN_FILES)),
        "statement": __doc__,
        "groups": {
            size: {"task": t, "models": list(names(size)), "epochs": e, "lr": lr}
            for size, (t, _, e, lr) in GROUPS.items()
        },
        "seeds": list(SEEDS),
        "batch_size": BATCH_SIZE,
        "select": SELECT,
        "exact": EXACT,
        "pair_exact": PAIR_EXACT,
        "family_level": FAMILY_LEVEL,
        "test": TEST,
        "head_fit": {"variants": HEAD_FIT_VARIANTS, "starts": HEAD_FIT_STARTS},
    }
