"""Confidence intervals and the paired comparisons that give each prediction its verdict.

Runs are paired by seed: seed s gives every model the same data and the same initial weights
outside the encoding, so a difference between two models (or two groups of models, each
averaged over its members) is taken seed by seed, and its Student-t interval is over seeds.

A comparison says how a difference d = A - B should come out, with a margin m fixed before
the runs:

* ``equivalent``: |d| < m. Holds when the 95% interval lies inside (-m, m); fails when it lies
  wholly outside [-m, m]; undecided otherwise.
* ``greater``: d > m. Holds when the interval lies above m; fails when it lies below m;
  undecided when it contains m.

A prediction holds when all its comparisons hold, fails when any fails, and is undecided
otherwise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats as _scipy_stats

LEVEL = 0.95
KINDS = ("equivalent", "greater")
VERDICTS = ("holds", "fails", "undecided")


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean; (v, nan, nan) for one value."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_ci needs at least one value.")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = _scipy_stats.t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def verdict(low: float, high: float, kind: str, margin: float) -> str:
    """The verdict of a difference whose interval is [low, high] (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)}.")
    if math.isnan(low) or math.isnan(high):
        return "undecided"
    if kind == "equivalent":
        if -margin < low and high < margin:
            return "holds"
        return "fails" if low > margin or high < -margin else "undecided"
    if low > margin:
        return "holds"
    return "fails" if high < margin else "undecided"


def combine(verdicts) -> str:
    """A prediction's verdict from those of its comparisons."""
    verdicts = list(verdicts)
    if not verdicts:
        return "undecided"
    if all(v == "holds" for v in verdicts):
        return "holds"
    return "fails" if "fails" in verdicts else "undecided"


@dataclass(frozen=True)
class Side:
    """The mean over ``models`` of the score ``test`` ("test" or an extra test's name)."""

    models: tuple[str, ...]
    test: str = "test"


@dataclass(frozen=True)
class Comparison:
    claim: str  # what holding would mean, in words
    a: Side
    b: Side
    kind: str
    margin: float
    level: float = LEVEL  # of the interval: higher where a suite corrects for multiple comparisons (Bonferroni)


def score(row: dict, test: str) -> float:
    return row["test_acc"] if test == "test" else row["extra_acc"][test]


def side_by_seed(rows: list[dict], side: Side) -> dict[int, float]:
    """{seed: mean score of the side's models} over the seeds where every one of them ran."""
    per_seed: dict[int, list[float]] = {}
    for row in rows:
        if row["model"] in side.models:
            per_seed.setdefault(row["seed"], []).append(score(row, side.test))
    return {s: statistics.fmean(v) for s, v in per_seed.items() if len(v) == len(side.models)}


def compare(rows: list[dict], c: Comparison) -> dict:
    """The paired difference A - B over the seeds both sides have, its interval and verdict."""
    a, b = side_by_seed(rows, c.a), side_by_seed(rows, c.b)
    seeds = sorted(set(a) & set(b))
    out = {
        "claim": c.claim,
        "a": list(c.a.models),
        "a_test": c.a.test,
        "b": list(c.b.models),
        "b_test": c.b.test,
        "kind": c.kind,
        "margin": c.margin,
        **({"level": c.level} if c.level != LEVEL else {}),
        "seeds": seeds,
    }
    if not seeds:
        return {**out, "difference": None, "ci": None, "verdict": "undecided"}
    mean, low, high = mean_ci([a[s] - b[s] for s in seeds], c.level)
    # One seed has no interval: null in the JSON summary rather than NaN, which strict parsers reject.
    ci = None if math.isnan(low) else [low, high]
    return {**out, "difference": mean, "ci": ci, "verdict": verdict(low, high, c.kind, c.margin)}
