"""The verdicts the zoo draws (training/zoo.py: analyse) and its summary tables (training/summary.py),
from fabricated zoo rows with known differences: the probe predictions P1-P3 and the digits equivalence."""

from __future__ import annotations

import json
import random
from functools import cache

import numpy as np
import pytest
from scipy import stats as scipy_stats

from records import stats
from training import models, probes, suites, summary, zoo

SEEDS = probes.SEEDS


@cache
def _extra_names(size: str) -> list[str]:
    return list(probes.extra_tests(probes.SUITE[size][0], 0))


def fabricated_rows(models_and_scores: dict, seeds=SEEDS) -> list[dict]:
    """Zoo rows from {model: f(seed) -> (test_acc, {extra test: acc})}, shuffled."""
    rows = []
    for name, f in models_and_scores.items():
        for seed in seeds:
            test_acc, extra = f(seed)
            rows.append(
                {
                    "model": name,
                    "seed": seed,
                    "dataset": "x",
                    "run_id": f"{name}_seed{seed}",
                    "reused": False,
                    "test_acc": test_acc,
                    "extra_acc": extra,
                    "parameters": 1000,
                    "encoding_parameters": 0,
                    "relative_by_theory": None,
                    "relative_error": None,
                }
            )
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
            noise = {s: rng.normal(0, jitter, 1 + len(_extra_names(size))) for s in SEEDS}  # the test and the extras
            sign = {s: (1, -1, 1, -1, 0)[i] * (swing(name) if swing else 0) for i, s in enumerate(SEEDS)}

            def f(seed, name=name, size=size, noise=noise, sign=sign):
                test = 0.4 + shared[seed] + level(name) + noise[seed][0] + sign[seed]
                return test, {
                    t: test + extra_level(name, t) + noise[seed][1 + i] + sign[seed]
                    for i, t in enumerate(_extra_names(size))
                }

            table[name] = f
    return fabricated_rows(table)


def _variant(name: str) -> str:
    return summary.variant_name(name)


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
    rows = probe_rows(
        level=lambda n: 0.1 if _is_mixed(n) else 0.0, extra_level=lambda n, t: -0.01 if _is_relative(n) else -0.4
    )
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
    text = summary.summary_text("probes", rows, suites.suite_groups("probes", quick=False), analysis)
    for pid in probes.PREDICTIONS:
        assert f"{pid}: {probes.PREDICTIONS[pid][0]} Verdict: **holds**." in text
    assert "| vit_mixed_rope_2D_2x2_probe_shift | 5 | " in text and "moved by whole patches acc |" in text


def test_probe_predictions_fail():
    # commuting designs 20 points off 2x2, mixed below axial, relative models lose 40 points when moved
    # and do no better than the others there.
    def level(n):
        v = _variant(n)
        return (
            {
                "commuting_axial_rope_2D_4x4": 0.2,
                "commuting_axial_rope_2D_8x8": 0.2,
                "commuting_mixed_rope_2D_4x4": -0.3,
                "commuting_mixed_rope_2D_8x8": -0.3,
                "mixed_rope_2D_2x2": -0.1,
            }.get(v, 0.0)
            if models.size_of(n) == "probe_diagonal"
            else 0.0
        )

    rows = probe_rows(level=level, extra_level=lambda n, t: -0.4)
    analysis = zoo.analyse("probes", rows)
    assert {pid: p["verdict"] for pid, p in analysis["predictions"].items()} == dict.fromkeys(
        probes.PREDICTIONS, "fails"
    )
    assert comparison_verdicts(analysis) == {"P1": ["fails", "fails"], "P2": ["fails"], "P3": ["fails"] * 4}
    text = summary.summary_text("probes", rows, suites.suite_groups("probes", quick=False), analysis)
    assert all("Verdict: **fails**." in line for line in text.splitlines() if line.startswith(("P1:", "P2:", "P3:")))


def test_probe_predictions_undecided_under_large_noise():
    # the means of the "holds" case, under noise of sd 1 that differs between models and tests: at 5 seeds
    # the intervals are about 2.5 wide, so no verdict but undecided is likely (at sd 0.3 one may hold by chance)
    rows = probe_rows(
        level=lambda n: 0.1 if _is_mixed(n) else 0.0,
        extra_level=lambda n, t: -0.01 if _is_relative(n) else -0.4,
        jitter=1.0,
    )
    analysis = zoo.analyse("probes", rows)
    assert {pid: p["verdict"] for pid, p in analysis["predictions"].items()} == dict.fromkeys(
        probes.PREDICTIONS, "undecided"
    ), comparison_verdicts(analysis)
    for p in analysis["predictions"].values():
        for c in p["comparisons"]:
            low, high = c["ci"]
            assert high - low > 2 * c["margin"] and c["verdict"] in ("undecided", "holds")


def test_a_missing_run_leaves_its_seed_out_of_the_comparison():
    rows = probe_rows(
        level=lambda n: 0.1 if _is_mixed(n) else 0.0, extra_level=lambda n, t: -0.01 if _is_relative(n) else -0.4
    )
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
    table = {suites.REFERENCE: lambda s: (shared[s], {})}
    for name, offset in offsets.items():
        noise = rng.normal(0, jitter, len(SEEDS))
        table[name] = lambda s, offset=offset, noise=noise: (shared[s] + offset(s) + noise[s], {})
    return fabricated_rows(table)


def test_digits_equivalence_verdicts():
    m = suites.EQUIVALENCE_MARGIN
    close, far, noisy, other_size = (
        "vit_rope_2D_axial_2x2_matched_digits",
        "vit_no_rope_matched_digits",
        "vit_liere_rope_2D_4x4_matched_digits",
        "vit_no_rope_digits",
    )
    assert {models.size_of(n) for n in (close, far, noisy)} == {"matched_digits"}
    assert suites.REFERENCE in models.REGISTRY
    rows = digits_rows(
        {
            close: lambda s: m / 3,
            far: lambda s: -3 * m,
            noisy: lambda s: (0.3, -0.3, 0.25, -0.25, 0.0)[s],
            other_size: lambda s: -0.5,
        }
    )
    analysis = zoo.analyse("digits", rows)
    eq = analysis["equivalence"]
    assert eq["reference"] == suites.REFERENCE and eq["margin"] == m
    by_model = {c["a"][0]: c for c in eq["comparisons"]}
    assert set(by_model) == {close, far, noisy}  # the reference and other sizes are not compared
    assert all(
        c["b"] == [suites.REFERENCE] and c["kind"] == "equivalent" and c["seeds"] == list(SEEDS)
        for c in by_model.values()
    )
    assert {n: c["verdict"] for n, c in by_model.items()} == {close: "holds", far: "fails", noisy: "undecided"}
    assert by_model[close]["difference"] == pytest.approx(m / 3, abs=0.002)
    assert by_model[far]["difference"] == pytest.approx(-3 * m, abs=0.002)
    groups = [suites.Group("digits", (suites.REFERENCE, close, far, noisy), SEEDS, 1)]
    text = summary.summary_text("digits", rows, groups, analysis)
    assert f"| rope_2D_axial_2x2 | {summary.fmt_difference(by_model[close])} | equivalent |" in text
    assert "| no_rope | " in text and "| differs |" in text and "| liere_rope_2D_4x4 | " in text
    assert "| undecided |" in text and f"+-{m}" in text
    # no matched model besides the reference: no comparisons and no table
    only = [r for r in rows if r["model"] in (suites.REFERENCE, other_size)]
    assert zoo.analyse("digits", only)["equivalence"]["comparisons"] == []
    assert "difference | verdict" not in summary.summary_text("digits", only, groups, zoo.analyse("digits", only))


def test_digits_equivalence_is_paired_by_seed():
    """Seeds move both models by +-0.3 together; their paired difference is 0.01 at every seed."""
    m = suites.EQUIVALENCE_MARGIN
    name = "vit_commuting_mixed_rope_2D_4x4_matched_digits"
    assert name in models.REGISTRY and name != suites.REFERENCE
    rows = digits_rows({name: lambda s: 0.01})
    (c,) = zoo.analyse("digits", rows)["equivalence"]["comparisons"]
    assert c["verdict"] == "holds" and c["difference"] == pytest.approx(0.01, abs=0.002)
    assert -m < c["ci"][0] and c["ci"][1] < m
    # Unpaired, the two models' intervals are each far wider than the margin: only the pairing decides.
    for model in (name, suites.REFERENCE):
        _, low, high = stats.mean_ci([r["test_acc"] for r in rows if r["model"] == model])
        assert high - low > 4 * m
    welch = scipy_stats.ttest_ind(
        [r["test_acc"] for r in rows if r["model"] == name],
        [r["test_acc"] for r in rows if r["model"] == suites.REFERENCE],
        equal_var=False,
    )
    low, high = welch.confidence_interval(0.95)
    assert stats.verdict(low, high, "equivalent", m) == "undecided"
    # Pairing by row order instead of by seed would break it: shuffle the seeds of one model.
    relabelled = [{**r, "seed": (r["seed"] + 1) % 5} if r["model"] == name else r for r in rows]
    (c,) = zoo.analyse("digits", relabelled)["equivalence"]["comparisons"]
    assert c["verdict"] == "undecided"


def test_one_seed_gives_no_interval_and_strict_json():
    rows = [
        {"model": m, "seed": 0, "test_acc": 0.5, "extra_acc": {}}
        for m in (suites.REFERENCE, "vit_no_rope_matched_digits")
    ]
    c = zoo.analyse("digits", rows)["equivalence"]["comparisons"][0]
    assert c["ci"] is None and c["verdict"] == "undecided"
    json.dumps(c, allow_nan=False)  # NaN would make the summary unreadable to strict JSON parsers
    assert summary.fmt_difference(c) == "+0.0000"


def test_no_equivalence_table_without_the_reference():
    rows = [{"model": "vit_no_rope_matched_digits", "seed": s, "test_acc": 0.5, "extra_acc": {}} for s in range(3)]
    assert zoo.analyse("digits", rows)["equivalence"]["comparisons"] == []
