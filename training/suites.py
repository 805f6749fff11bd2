"""The zoo's suites: which models train on which data set, with which seeds and epochs.

* `digits`: the seed's rows and the new families on scikit-learn's 8x8 digits, at the digits
  size (3 seeds) and at one matched width (5 seeds), where every model is also compared with
  RoPE-Mixed: a paired difference with its 95% interval, and an equivalence verdict with a
  margin of EQUIVALENCE_MARGIN;
* `probes`: the generated probe tasks of training/probes.py, with the exact checks, verdicts and
  intervals of the predictions P1-P3 (training/probe_suite.py holds its design);
* `fashion`: the seed's question on Fashion-MNIST, with resolution and translation tests
  (training/fashion_suite.py holds its design).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from records.model_id import ModelId

from . import data, fashion_suite, models, probe_suite, probes
from .evaluation import ExtraTest

SUITES = ("digits", "probes", "fashion")


@dataclass(frozen=True)
class Recipe:
    """How a suite's runs train (the zoo command may set the batch size and the learning rate)."""

    batch_size: int
    lr: float
    warmup_epochs: float = 1.0
    amp: bool = False  # bf16 autocast
    select: str = "val_acc"  # the epoch a run is scored at (TrainConfig.select)


RECIPES = {
    "digits": Recipe(32, 3e-3),
    # The learning rate of each probe task is its group's (probe_suite.GROUPS).
    "probes": Recipe(probe_suite.BATCH_SIZE, 3e-3, select=probe_suite.SELECT),
    "fashion": Recipe(fashion_suite.BATCH_SIZE, fashion_suite.LR, fashion_suite.WARMUP_EPOCHS, fashion_suite.AMP),
}
# One model per family (and both commuting designs), all at the matched width.
QUICK_VARIANTS = [
    "no_rope",
    "rope_2D_axial_2x2",
    "mixed_rope_2D_2x2",
    "rope_2D_axial_3x3_0",
    "weighted_rope_2D_axial_3x3",
    "commuting_axial_rope_2D_4x4",
    "commuting_mixed_rope_2D_4x4",
    "liere_rope_2D_4x4",
]
REFERENCE = "vit_mixed_rope_2D_2x2_matched_digits"  # the digits suite's equivalence reference
EQUIVALENCE_MARGIN = 0.03


@dataclass(frozen=True)
class Group:
    """Models trained on one data set with the same seeds and epochs."""

    dataset: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    max_images: int | None = None  # of each split; set only by quick suites
    lr: float | None = None  # None: the recipe's


def suite_groups(suite: str, quick: bool) -> list[Group]:
    if suite == "digits":
        if quick:
            return [Group("digits", tuple(ModelId.name(v, "matched_digits") for v in QUICK_VARIANTS), (0,), 8)]
        return [
            Group("digits", tuple(models.model_names("digits")), (0, 1, 2), 30),
            Group("digits", tuple(models.model_names("matched_digits")), (0, 1, 2, 3, 4), 30),
        ]
    if suite == "fashion":
        if quick:
            quick_names = fashion_suite.names(fashion_suite.QUICK_VARIANTS)
            return [Group("fashion", quick_names, (0,), 1, fashion_suite.QUICK_IMAGES)]
        return [Group("fashion", fashion_suite.names(), fashion_suite.SEEDS, fashion_suite.EPOCHS)]
    groups = []
    for size, (task, variants, epochs, lr) in probe_suite.GROUPS.items():
        if quick:
            variants, epochs = [v for v in variants if v in probe_suite.QUICK_VARIANTS], probe_suite.QUICK_EPOCHS
        names = tuple(ModelId.name(v, size) for v in variants)
        max_images = probe_suite.QUICK_IMAGES if quick else None
        groups.append(Group(task, names, (0,) if quick else probe_suite.SEEDS, epochs, max_images, lr))
    return groups


def select(
    suite: str,
    quick: bool,
    names: list[str] | None,
    seeds: list[int] | None,
    epochs: int | None,
    lr: float | None = None,
) -> list[Group]:
    """The groups a zoo command trains: the suite's, or the named models, with seeds, epochs and learning rate
    overridden."""
    groups = suite_groups(suite, quick)
    if names is not None:
        for name in names:
            _check_in_suite(name, suite)
        # Each model trains with the seeds and epochs of the suite's group of its size (quick: the quick ones).
        defaults = {models.size_of(g.models[0]): g for g in suite_groups(suite, quick=False)}
        sizes = dict.fromkeys(models.size_of(m) for m in names)
        groups = [
            Group(
                defaults[z].dataset,
                tuple(m for m in names if models.size_of(m) == z),
                groups[0].seeds if quick else defaults[z].seeds,
                groups[0].epochs if quick else defaults[z].epochs,
                groups[0].max_images if quick else None,
                defaults[z].lr,
            )
            for z in sizes
        ]
    return [
        replace(g, seeds=tuple(seeds) if seeds is not None else g.seeds, epochs=epochs or g.epochs, lr=lr or g.lr)
        for g in groups
    ]


def _check_in_suite(name: str, suite: str) -> None:
    models.check_name(name)
    own = next((s for s in SUITES if models.size_of(name) in suite_sizes(s)), None)
    if own != suite:
        hint = "the size of no suite" if own is None else f"for --suite {own}"
        raise ValueError(
            f"model {name} is not one of the {suite} suite's sizes ({hint}); pass a model "
            f"of the sizes {', '.join(suite_sizes(suite))}."
        )


def training_set(name: str) -> str | None:
    """The data set a registered model trains on in the zoo (None: a CIFAR size)."""
    size = ModelId.parse(name).size
    if size in ("digits", "matched_digits"):
        return "digits"
    if size == fashion_suite.SIZE:
        return "fashion"
    return probe_suite.GROUPS[size][0] if size in probe_suite.GROUPS else None


def suite_sizes(suite: str) -> list[str]:
    return {"digits": ["digits", "matched_digits"], "fashion": [fashion_suite.SIZE]}.get(
        suite, list(probe_suite.GROUPS)
    )


def extra_tests(dataset: str, seed: int, splits: data.Splits) -> dict[str, ExtraTest]:
    """The tests outside the training distribution that a suite scores on a run's best checkpoint."""
    if dataset in probes.TASKS:
        return {name: ExtraTest(images, labels) for name, (images, labels) in probes.extra_tests(dataset, seed).items()}
    if dataset == "fashion":
        return fashion_suite.extra_tests(splits)
    return {}


def check_summary_suite(path: Path, suite: str) -> None:
    """Refuse to write one suite's summary over another's."""
    try:
        earlier = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} exists but cannot be read ({e}); move it away or pass another --out.") from None
    # Summaries from before the probes suite carry no suite name: they are the digits suite's.
    if earlier.get("suite", "digits") != suite:
        raise ValueError(
            f"{path} holds the summary of another suite ({earlier.get('suite', 'digits')!r}, made by "
            f"{earlier.get('command', 'an unknown command')!r}); it was left as it is. Pass another "
            "--out for this suite."
        )
