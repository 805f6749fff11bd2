"""numbers.tex (paper/macros.py): the macros of the prose hold the result files' numbers, or 'not yet run'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_paper_fakes import estimate_mean, in_points, make_results, summary, write

from paper import macros
from paper.results import Results
from paper.tex import sci, short_commit, tex
from training import fashion_suite, probe_suite

FAMILY = sum(map(len, probe_suite.estimates().values()))  # the probe suite's Bonferroni m


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("full") / "results")


@pytest.fixture(scope="module")
def numbers(full_results) -> str:
    return macros.numbers(Results(full_results))


def macro(name: str, value: str) -> str:
    return f"\\newcommand{{\\{name}}}{{{value}}}"


def test_the_probe_macros_hold_each_predictions_bounds_and_estimates(numbers, full_results):
    probe = summary(full_results, "probes")
    runs = probe["runs"]
    for pid, p in probe["predictions"].items():
        word = {"P1": "POne", "P2": "PTwo", "P3": "PThree"}[pid]
        assert macro(f"ProbesVerdict{word}", p["verdict"]) in numbers
        for letter, b in zip("AB", p["bounds"]):
            # Recomputed from the runs: how many of the bound's runs have the score, and its largest value.
            scores = [r[b["score"]] for r in runs if r["model"] in b["models"] and r[b["score"]] is not None]
            assert macro(f"Probes{word}Bound{letter}Runs", str(len(scores))) in numbers, (pid, letter)
            assert macro(f"Probes{word}Bound{letter}Largest", sci(max(scores)) if scores else "--") in numbers
            assert macro(f"Probes{word}Bound{letter}Verdict", b["verdict"]) in numbers
        for letter, e in zip("ABCDEF", p["estimates"]):
            # The summary's estimate is the paired mean over the runs; the paper prints it and its interval.
            assert e["difference"] == pytest.approx(estimate_mean(runs, e), abs=1e-12), e["claim"]
            mean, low, high = in_points(e)
            name = f"Probes{word}Estimate{letter}"
            assert macro(name, f"{mean} [{low}, {high}]") in numbers, name
            assert all(macro(name + part, v) in numbers for part, v in zip(["Mean", "Low", "High"], [mean, low, high]))
            assert macro(name + "Seeds", str(len(probe_suite.SEEDS))) in numbers
    # One head per design: the axial heads' smallest KL on the diagonal pair, the mixed heads' largest, the floor.
    fit = probe["predictions"]["P2"]["head_fit"]
    pair = {design: [kl["diagonal pair"] for kl in fits.values()] for design, fits in fit["fits"].items()}
    assert macro("ProbesHeadFitAxialSmallest", sci(min(pair["axial"]))) in numbers
    assert macro("ProbesHeadFitMixedLargest", sci(max(pair["mixed"]))) in numbers
    assert macro("ProbesHeadFitFloor", "0.693") in numbers and macro("ProbesHeadFitStarts", "3") in numbers
    # The bounds: P1 on every relative run, none unmeasured; P3 with the extrapolation pairs never measured.
    relative = probe_suite.bounds()["P1"][0].models
    assert len(relative) == 12 and macro("ProbesPOneBoundARuns", str(len(probe_suite.SEEDS) * len(relative))) in numbers
    assert macro("ProbesPThreeBoundBRuns", "0") in numbers and macro("ProbesPThreeBoundBLargest", "--") in numbers


def test_the_macros_hold_the_counts_and_provenance_of_each_file(numbers, full_results):
    eq = {c["a"][0]: c for c in summary(full_results, "digits")["equivalence"]["comparisons"]}
    for macro, value in [
        ("TheoremsTrue", "2"),
        ("TheoremsTotal", "3"),
        ("TheoremsCommit", "0123456"),
        ("TheoremsSeconds", "15"),
        ("DigitsSizeSeeds", "3"),
        ("DigitsMatchedSeeds", "5"),
        ("DigitsRuns", str(25 * 3 + 24 * 5)),
        ("DigitsEpochs", "30"),
        ("DigitsWallMinutes", "60"),
        ("DigitsDate", "2026-01-02"),
        ("DigitsEquivalenceMargin", "3"),
        ("DigitsEquivalenceReference", "mixed rope 2D 2x2"),
        ("DigitsEquivalenceCompared", str(len(eq))),
        ("DigitsEquivalenceEquivalent", str(sum(c["verdict"] == "holds" for c in eq.values()))),
        ("ProbesRuns", str(len(probe_suite.SEEDS) * sum(len(g[1]) for g in probe_suite.GROUPS.values()))),
        ("ProbesModels", str(sum(len(g[1]) for g in probe_suite.GROUPS.values()))),
        ("ProbesSeeds", "10"),
        ("ProbesWallMinutes", "90"),
        ("ProbesEpochsDiagonalContent", "20"),
        ("ProbesLrDiagonalContent", "0.001"),
        ("ProbesEpochsQuadrant", "10"),
        ("ProbesEpochsQuadrantContent", "10"),
        ("ProbesLrExtrapolateContent", "0.003"),
        ("ProbesFamily", str(FAMILY)),
        ("ProbesLevel", f"{100 * (1 - 0.05 / FAMILY):.2f}".rstrip("0").rstrip(".")),
        ("ProbesFamilyLevel", "95"),
        ("ProbesExact", r"$1.0\cdot 10^{-5}$"),
        ("ProbesDesignCommit", tex(short_commit(probe_suite.design()["commit"]))),
        ("ProbesCommand", r"\texttt{rope-{}blocks zoo -{}-{}suite probes}"),
        ("BenchDevice", "x86\\_64 CPU, 2 threads"),
        ("FashionSeeds", "8"),
        ("FashionModels", "9"),
        ("FashionRuns", "72"),
        ("FashionEpochs", str(fashion_suite.EPOCHS)),
        ("FashionEquivalenceMargin", "1"),
        ("FashionEquivalenceCompared", "8"),
        ("FashionEquivalenceFamily", "8"),
        ("FashionExtraImages", f"{fashion_suite.EXTRA_IMAGES:,}"),
    ]:
        assert f"\\newcommand{{\\{macro}}}{{{value}}}" in numbers, macro
    assert not re.search(r"\\newcommand\{\\[A-Za-z]*[0-9]", numbers), "TeX macro names hold no digits"


def test_the_cited_probe_macros_are_the_designs_sizes_bounds_and_estimates():
    """What the paper defines before the summary exists is what training/probe_suite.py fixes before the runs."""
    assert macros.PROBE_SIZES == tuple(probe_suite.GROUPS)
    bounds, estimates = probe_suite.bounds(), probe_suite.estimates()
    assert macros.PROBE_LAYOUT == {
        pid: (len(bounds.get(pid, [])), len(estimates.get(pid, []))) for pid in probe_suite.STATEMENTS
    }


def test_a_summary_without_a_prediction_bound_or_estimate_still_defines_its_macros(tmp_path):
    results = make_results(tmp_path / "results")
    probe = summary(results, "probes")
    del probe["predictions"]["P2"]
    probe["predictions"]["P3"]["bounds"] = probe["predictions"]["P3"]["bounds"][:1]
    probe["predictions"]["P3"]["estimates"] = probe["predictions"]["P3"]["estimates"][:2]
    write(results / "probes" / "summary.json", probe)
    numbers = macros.numbers(Results(results))
    for name in (
        "ProbesVerdictPTwo",
        "ProbesStatementPTwo",
        "ProbesPTwoEstimateA",
        "ProbesPTwoEstimateCHigh",
        "ProbesHeadFitFloor",
        "ProbesHeadFitAxialSmallest",
        "ProbesPThreeBoundBRuns",
        "ProbesPThreeEstimateC",
        "ProbesPThreeEstimateFMean",
    ):
        assert macro(name, "not yet run") in numbers, name
    assert macro("ProbesVerdictPThree", probe["predictions"]["P3"]["verdict"]) in numbers
    assert macro("ProbesPThreeBoundARuns", "not yet run") not in numbers
    assert macro("ProbesPThreeEstimateBSeeds", "10") in numbers


def test_a_summary_from_before_the_design_gives_no_probe_macro(tmp_path):
    """The probe summary of the earlier design (no "design", comparisons instead of bounds): every probe macro,
    its provenance included, reads 'not yet run', and the other files' macros are as before."""
    results = make_results(tmp_path / "results")
    probe = summary(results, "probes")
    del probe["design"]
    write(results / "probes" / "summary.json", probe)
    numbers = macros.numbers(Results(results))
    probe_lines = [line for line in numbers.splitlines() if line.startswith("\\newcommand{\\Probes")]
    assert len(probe_lines) > 50 and all(line.endswith("{not yet run}") for line in probe_lines)
    assert macro("DigitsEpochs", "30") in numbers
