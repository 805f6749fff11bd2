"""numbers.tex (paper/macros.py): the macros of the prose hold the result files' numbers, or 'not yet run'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_paper_fakes import make_results, paired, summary, write

from paper import macros
from paper.results import Results
from training import fashion_suite, probes


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("full") / "results")


@pytest.fixture(scope="module")
def numbers(full_results) -> str:
    return macros.numbers(Results(full_results))


def test_the_probe_macros_hold_each_prediction_and_comparison(numbers, full_results):
    runs = summary(full_results, "probes")["runs"]
    for pid, p in summary(full_results, "probes")["predictions"].items():
        word = {"P1": "POne", "P2": "PTwo", "P3": "PThree"}[pid]
        assert f"\\newcommand{{\\ProbesVerdict{word}}}{{{p['verdict']}}}" in numbers
        for letter, c in zip("ABCD", p["comparisons"]):
            diff = paired(runs, c["a"], c["a_test"], c["b"], c["b_test"])
            assert f"\\newcommand{{\\Probes{word}Diff{letter}}}{{{diff}}}" in numbers
            assert f"\\newcommand{{\\Probes{word}Verdict{letter}}}{{{c['verdict']}}}" in numbers


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
        ("ProbesRuns", "170"),
        ("ProbesModels", "34"),
        ("ProbesSeeds", "5"),
        ("ProbesWallMinutes", "90"),
        ("ProbesEpochsDiagonal", "20"),
        ("ProbesEpochsShift", "5"),
        ("ProbesEpochsExtrapolate", "10"),
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


def test_the_cited_probe_macros_are_the_zoos_tasks_and_predictions():
    """What the paper defines before the summary exists is what training/probes.py fixes before the runs."""
    assert macros.PROBE_TASKS == probes.TASKS
    assert macros.PREDICTION_COMPARISONS == {pid: len(c) for pid, (_, c) in probes.PREDICTIONS.items()}


def test_a_summary_without_a_prediction_or_comparison_still_defines_its_macros(tmp_path):
    results = make_results(tmp_path / "results")
    probe = summary(results, "probes")
    del probe["predictions"]["P2"]
    probe["predictions"]["P3"]["comparisons"] = probe["predictions"]["P3"]["comparisons"][:2]
    write(results / "probes" / "summary.json", probe)
    numbers = macros.numbers(Results(results))
    for macro in (
        "ProbesVerdictPTwo",
        "ProbesStatementPTwo",
        "ProbesPTwoDiffA",
        "ProbesPThreeDiffC",
        "ProbesPThreeVerdictD",
    ):
        assert f"\\newcommand{{\\{macro}}}{{not yet run}}" in numbers, macro
    assert f"\\newcommand{{\\ProbesVerdictPThree}}{{{probe['predictions']['P3']['verdict']}}}" in numbers
    assert r"\newcommand{\ProbesPThreeDiffA}{not yet run}" not in numbers
