"""Confidence intervals and the paired comparisons that give each prediction its verdict.

Runs are paired by seed: seed s gives every model the same data and the same initial weights
outside the encoding, so a difference between two models (or two groups of models, each
averaged over its members) is taken seed by seed, and its interval is over seeds: Student-t
(``method="t"``), or the BCa bootstrap of scipy.stats (``"bootstrap"``), whose bounds stay
inside the range of the values, so an interval of accuracies never leaves [0, 1] and one of
their differences never leaves [-1, 1]. The price: at 10 seeds of normal data a 95% bootstrap
interval covers the mean about 86% of the time, where Student-t's covers it 95% of the time
(proofs_tests/test_stats.py simulates both).

A comparison says how a difference d = A - B should come out, with a margin m fixed before
the runs; its interval's level is where a suite corrects for multiple comparisons (Bonferroni:
1 - 0.05 / m for m comparisons):

* ``equivalent``: |d| < m. Holds when the interval lies inside (-m, m); fails when it lies
  wholly outside [-m, m]; undecided otherwise.
* ``greater``: d > m. Holds when the interval lies above m; when it lies below m, ``smaller``
  if it lies above 0 (an effect, but smaller than the margin) and fails otherwise; undecided
  when it contains m.

A prediction holds when all its comparisons hold; otherwise it fails when any fails, is
``smaller`` when any is, and is undecided.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

LEVEL = 0.95
KINDS = ("equivalent", "greater")
VERDICTS = ("holds", "fails", "smaller", "undecided")
METHODS = ("t", "bootstrap")
BOOTSTRAP_RESAMPLES = 9999


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


def interval(values, level: float = LEVEL, method: str = "t", resamples: int = BOOTSTRAP_RESAMPLES):
    """(mean, low, high) of ``values`` by ``method`` (see the module docstring); nan bounds for one value."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(METHODS)}.")
    if method == "t":
        return mean_ci(values, level)
    values = np.asarray([float(v) for v in values])
    if len(values) < 2:
        return mean_ci(values, level)
    mean = float(values.mean())
    if np.all(values == values[0]):  # no spread: BCa's acceleration is undefined
        return mean, mean, mean
    for kind in ("BCa", "percentile"):  # BCa degenerates on some tiny samples; the percentile interval does not
        ci = _scipy_stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=level,
            n_resamples=resamples,
            method=kind,
            random_state=np.random.default_rng(0),  # the same data give the same interval
        ).confidence_interval
        low, high = float(ci.low), float(ci.high)
        if not (math.isnan(low) or math.isnan(high)):
            break
    return mean, float(max(low, values.min())), float(min(high, values.max()))


def bonferroni_family(level: float) -> int:
    """The number of comparisons m a Bonferroni-corrected level 1 - 0.05 / m was set for (1 at LEVEL)."""
    return round((1 - LEVEL) / (1 - level))


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
    if high < margin:
        return "smaller" if low > 0 else "fails"
    return "undecided"


def combine(verdicts) -> str:
    """A prediction's verdict from those of its comparisons."""
    verdicts = list(verdicts)
    if not verdicts:
        return "undecided"
    if all(v == "holds" for v in verdicts):
        return "holds"
    return next(v for v in ("fails", "smaller", "undecided") if v in verdicts)


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
    method: str = "t"  # of the interval: "t" or "bootstrap"


def score(row: dict, test: str) -> float:
    return row["test_acc"] if test == "test" else row["extra_acc"][test]


def side_by_seed(rows: list[dict], side: Side) -> dict[int, float]:
    """{seed: mean score of the side's models} over the seeds where every one of them ran."""
    per_seed: dict[int, list[float]] = {}
    for row in rows:
        if row["model"] in side.models:
            per_seed.setdefault(row["seed"], []).append(score(row, side.test))
    return {s: statistics.fmean(v) for s, v in per_seed.items() if len(v) == len(side.models)}


def _paired(rows: list[dict], a: Side, b: Side | None, level: float, method: str) -> dict:
    """A's score, or A - B seed by seed, over the seeds both sides have: mean, interval and seeds."""
    by_a = side_by_seed(rows, a)
    by_b = side_by_seed(rows, b) if b is not None else dict.fromkeys(by_a, 0.0)
    seeds = sorted(set(by_a) & set(by_b))
    out = {
        "a": list(a.models),
        "a_test": a.test,
        **({"b": list(b.models), "b_test": b.test} if b is not None else {}),
        **({"level": level} if level != LEVEL else {}),
        **({"method": method} if method != "t" else {}),
        "seeds": seeds,
    }
    if not seeds:
        return {**out, "difference": None, "ci": None}
    mean, low, high = interval([by_a[s] - by_b[s] for s in seeds], level, method)
    # One seed has no interval: null in the JSON summary rather than NaN, which strict parsers reject.
    return {**out, "difference": mean, "ci": None if math.isnan(low) else [low, high]}


def compare(rows: list[dict], c: Comparison) -> dict:
    """The paired difference A - B over the seeds both sides have, its interval and verdict."""
    out = {"claim": c.claim, **_paired(rows, c.a, c.b, c.level, c.method), "kind": c.kind, "margin": c.margin}
    ci = out["ci"] or [math.nan, math.nan]
    return {**out, "verdict": verdict(*ci, c.kind, c.margin)}


@dataclass(frozen=True)
class Estimate:
    """A measured quantity with no prediction, so an interval and no verdict: the mean score of A, or the paired
    difference A - B."""

    claim: str
    a: Side
    b: Side | None = None
    level: float = LEVEL
    method: str = "t"


def estimate(rows: list[dict], e: Estimate) -> dict:
    """The estimate's mean over the seeds its sides have (``difference``: A's score when there is no B) and
    its interval, cut to the values the quantity can take: [0, 1] for an accuracy, [-1, 1] for a difference
    of two (the true value lies there, so cutting costs no coverage)."""
    out = {"claim": e.claim, **_paired(rows, e.a, e.b, e.level, e.method)}
    if out["ci"] is not None:
        low, high = (-1.0, 1.0) if e.b is not None else (0.0, 1.0)
        out["ci"] = [max(out["ci"][0], low), min(out["ci"][1], high)]
    return out


@dataclass(frozen=True)
class Bound:
    """An exactness claim: every run of ``models`` has ``score`` (a row field such as "export_error" or
    "pair_error") at most ``tol``. No interval: one run above the bound refutes it."""

    claim: str
    models: tuple[str, ...]
    score: str
    tol: float


def check_bound(rows: list[dict], b: Bound, failed: int = 0) -> dict:
    """fails when a run of the models exceeds the bound (or its score is not finite); holds when every one of
    their runs has the score within it; undecided when no run has the score, or when some runs lack it or
    ``failed`` of them did not finish: a claim about every run is not shown by some."""
    values = [r.get(b.score) for r in rows if r["model"] in b.models]
    measured = [float(v) for v in values if v is not None]
    # A run whose score is not finite (it diverged) is not within any bound.
    worst = None if not measured else math.inf if not all(map(math.isfinite, measured)) else max(measured)
    missing = len(values) - len(measured) + failed
    if worst is not None and worst > b.tol:
        verdict = "fails"
    else:
        verdict = "undecided" if worst is None or missing else "holds"
    return {
        "claim": b.claim,
        "models": list(b.models),
        "score": b.score,
        "tol": b.tol,
        "runs": len(measured),
        "unmeasured": missing,
        "largest": worst if worst is None or math.isfinite(worst) else "not finite",  # strict JSON has no inf
        "verdict": verdict,
    }
