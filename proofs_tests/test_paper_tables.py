"""The paper's tables (paper/tables.py) say what the result files say, and nothing else."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_paper_fakes import (
    cut_ci,
    estimate_mean,
    generated,
    in_points,
    interval,
    make_results,
    paired,
    probe_tests,
    summary,
    table_row,
    with_ci,
    with_half_width,
    write,
)

from paper import build
from paper import tables as tables_module
from paper.results import Results
from paper.runs import short_name
from paper.tex import sci, tex
from training import fashion_suite, head_fit, models, probe_suite


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("full") / "results")


@pytest.fixture(scope="module")
def tables(full_results) -> dict[str, str]:
    """Every table's TeX, as the build writes it into generated/<name>.tex."""
    res = Results(full_results)
    return {f"{name}.tex": build.render(make, res) for name, make in build.TABLES.items()}


@pytest.fixture
def results(full_results, tmp_path) -> Path:
    """A copy of the full-size results that a test may change."""
    return Path(shutil.copytree(full_results, tmp_path / "results"))


def build_tables(results: Path, out: Path, monkeypatch) -> int:
    monkeypatch.setattr(build, "FIGURES", {})  # only the tables matter here
    return build.build(results, out, pdf=False)


def test_theorems_table(tables):
    theorems = tables["theorems.tex"]
    assert r"\label{tab:theorems}" in theorems and r"\begin{tabular}" in theorems
    assert r"T1 & \raggedright statement of T1 with R(x)$^{\top}$ R(y)" in theorems and "asciicircum" not in theorems
    assert r"$1.7\cdot 10^{-13}$" in theorems and "not proved & 3 \\\\" in theorems
    assert "exact; numeric" in theorems


def test_digits_tables_hold_each_models_interval_and_paired_difference(tables, full_results):
    digits = summary(full_results, "digits")
    eq = {c["a"][0]: c for c in digits["equivalence"]["comparisons"]}
    for size, name in [("digits", "digits.tex"), ("matched_digits", "digits_matched.tex")]:
        text = tables[name]
        assert "vit_" not in text and not re.search(r"(?<!\\)_", text), "model names must be escaped"
        assert "canvas" not in text
        for model in models.model_names(size):
            cells = table_row(text, tex(short_name(model))).split(" & ")
            assert cells[1] == with_ci(r["test_acc"] for r in digits["runs"] if r["model"] == model), model
            if size == "matched_digits" and model in eq:
                c = eq[model]
                assert cells[2] == paired(digits["runs"], c["a"], "test", c["b"], "test"), model
                assert cells[3] == {"holds": "equivalent", "fails": "differs", "undecided": "undecided"}[c["verdict"]]
    matched = tables["digits_matched.tex"]
    assert table_row(matched, "mixed rope 2D 2x2").split(" & ")[2:4] == ["reference", ""]
    assert r"within $\pm$3 points" in matched and "difference" not in tables["digits.tex"]
    assert re.search(r"liere rope 2D 4x4 & .* & 12,345 & no \\\\", matched)


def test_fashion_tables_hold_each_models_interval_corrected_difference_and_extra_tests(tables, full_results):
    fashion = summary(full_results, "fashion")
    eq = {c["a"][0]: c for c in fashion["equivalence"]["comparisons"]}
    level = 1 - 0.05 / len(eq)
    main, extra = tables["fashion.tex"], tables["fashion_extra.tex"]
    assert "canvas" not in main and not re.search(r"(?<!\\)_", main + extra), "model names must be escaped"
    for model in fashion_suite.names():
        runs = [r for r in fashion["runs"] if r["model"] == model]
        cells = table_row(main, tex(short_name(model))).split(" & ")
        assert cells[1] == with_ci((r["test_acc"] for r in runs), decimals=2), model
        if model in eq:
            assert cells[2] == paired(fashion["runs"], [model], "test", eq[model]["b"], "test", level, 2), model
        extra_cells = table_row(extra, tex(short_name(model))).split(" & ")
        tests = ["test", *runs[0]["extra_acc"]]
        assert len(extra_cells) == 2 + len(tests) == 10
        for cell, t in zip(extra_cells[2:], tests):
            values = [r["test_acc"] if t == "test" else r["extra_acc"][t] for r in runs]
            assert cell.removesuffix(r" \\") == with_half_width(values), (model, t)
    assert f"{100 * level:g}\\% interval over seeds (Bonferroni" in main and r"within $\pm$1 point," in main
    assert f"first {fashion_suite.EXTRA_IMAGES:,} test images" in extra


def cells(text: str, first_cell: str) -> list[str]:
    return table_row(text, first_cell).removesuffix(r" \\").split(" & ")


def test_the_predictions_table_holds_each_check_recomputed_from_the_runs(tables, full_results):
    probe = summary(full_results, "probes")
    text = tables["probes_predictions.tex"]
    assert r"\label{tab:probes-predictions}" in text and r"\textbf{P1}, \emph{holds}: A relative k x k design" in text
    for pid, p in probe["predictions"].items():
        assert f"\\textbf{{{pid}}}, \\emph{{{p['verdict']}}}: " in text, pid
        assert "At the level of a model" not in text, "the statement in short: its first sentence"
        for b in p["bounds"]:
            scores = [r[b["score"]] for r in probe["runs"] if r["model"] in b["models"] and r[b["score"]] is not None]
            row = cells(text, r"\raggedright " + tex(b["claim"]))
            assert row == [
                r"\raggedright " + tex(b["claim"]),
                str(len(scores)),
                sci(max(scores)) if scores else "--",
                r"$\le$ " + sci(b["tol"]),
                b["verdict"],
            ], b["claim"]
    fit = probe["predictions"]["P2"]["head_fit"]
    axial, mixed = ([kl["diagonal pair"] for kl in fit["fits"][d].values()] for d in ("axial", "mixed"))
    checks = [line for line in text.splitlines() if "head" in line and "raggedright" in line]
    control = max(kl[head_fit.CONTROL] for d in fit["fits"].values() for kl in d.values())
    assert [c.split(" & ")[1:] for c in checks] == [
        ["5", sci(control), "$<$ " + sci(head_fit.CONTROL_KL), "holds \\\\"],
        ["3", sci(min(axial)), r"$\ge$ 0.693", "holds \\\\"],
        ["2", sci(max(mixed)), "$<$ 0.693", "fails \\\\"],
    ]


def test_the_head_fit_table_holds_every_heads_kl_and_the_floor(tables, full_results):
    fit = summary(full_results, "probes")["predictions"]["P2"]["head_fit"]
    text = tables["probes_head_fit.tex"]
    assert r"\label{tab:probes-head-fit}" in text and "3 starts of 300 steps" in text and "width 48" in text
    rows = 0
    for design, variants in probe_suite.HEAD_FIT_VARIANTS.items():
        for v in variants:
            kl = fit["fits"][design][v]
            expected = [design, v.replace("_", " "), *(sci(kl[t]) for t in head_fit.TARGETS)]
            assert cells(text, design + " & " + v.replace("_", " ")) == expected, v
            rows += 1
    assert rows == 5
    assert cells(text, r"\multicolumn{2}{l}{floor of an axial head (T11)}")[1:] == ["--", "--", "0.693"]
    assert list(head_fit.TARGETS)[-1] == tables_module.DIAGONAL_PAIR and head_fit.TARGETS["diagonal pair"][1] > 0


def test_the_estimates_table_holds_each_estimate_its_level_and_seeds(tables, full_results):
    probe = summary(full_results, "probes")
    text = tables["probes_estimates.tex"]
    assert r"\label{tab:probes-estimates}" in text
    estimates = [e for p in probe["predictions"].values() for e in p["estimates"]]
    m = len(estimates)
    assert m == sum(map(len, probe_suite.estimates().values())) and m >= 8
    level = f"{100 * (1 - 0.05 / m):.2f}".rstrip("0").rstrip(".")
    assert rf"at level {level}\% (Bonferroni: a 95\% family level over the {m} intervals" in text
    for e in estimates:
        assert e["difference"] == pytest.approx(estimate_mean(probe["runs"], e), abs=1e-12), e["claim"]
        mean, low, high = in_points(e)
        claim = r"\raggedright " + tex(e["claim"].replace("_", " ")).replace(" - ", " $-$ ")
        assert cells(text, claim) == [claim, f"{mean} [{low}, {high}]", "10"], e["claim"]
    assert "rope 2D axial 2x2 test accuracy & 6" in text, "a score alone is unsigned"
    assert text.index(r"\textbf{P2}") < text.index("depth-1 diagonal") < text.index(r"\textbf{P3}")


def test_the_full_probe_tables_hold_every_model_test_and_error(tables, full_results):
    runs = summary(full_results, "probes")["runs"]
    full = tables["probes_full.tex"]
    assert full.count(r"\begin{table}") == len(probe_suite.GROUPS)
    for size, (task, variants, _, _) in probe_suite.GROUPS.items():
        text = next(t for t in full.split(r"\end{table}") if f"\\label{{tab:{size.replace('_', '-')}}}" in t)
        tests = ["test", *probe_tests(task)]
        paired = any(r.get("pair_error") is not None for r in runs if models.size_of(r["model"]) == size)
        header = [line for line in text.splitlines() if line.startswith("model & ")][0]
        assert header.count(" & ") == len(tests) + (2 if paired else 1), size
        for v in variants:
            mine = [r for r in runs if r["model"] == probe_suite.name(v, size)]
            assert len(mine) == len(probe_suite.SEEDS)
            accuracies = [cut_ci(r["test_acc"] if t == "test" else r["extra_acc"][t] for r in mine) for t in tests]
            errors = ["export_error", "pair_error"] if paired else ["export_error"]
            largest = [sci(max(r[key] for r in mine)) if mine[0][key] is not None else "--" for key in errors]
            assert cells(text, v.replace("_", " ")) == [v.replace("_", " "), *accuracies, *largest], (size, v)
    # Nine seeds at 1.00 and one at 0.97: a Student-t interval reaching above 100, cut there.
    mine = [r["test_acc"] for r in runs if r["model"] == probe_suite.name(probe_suite.MIXED, "probe_quadrant_content")]
    assert interval(mine)[2] > 100 and "mixed rope 2D 2x2 & 99.7 [99.0, 100.0] & " in full


def test_probe_captions_give_the_architecture_and_recipe_the_runs_record(tables):
    """Depth, patches, pooling and content tokens come from each run's own result file (its model_config)."""
    full = tables["probes_full.tex"]
    assert (
        r"\texttt{probe\_diagonal\_content}, task \texttt{probe\_diagonal} (depth 1, mean pooling, content tokens "
        "only; 20 epochs at learning rate 0.001)" in full
    )
    assert (
        r"\texttt{probe\_quadrant}, task \texttt{probe\_quadrant} (depth 2, 2$\times$2 patches, mean pooling; 10"
        in full
    )
    assert "(depth 2, 2$\\times$2 patches, mean pooling, content tokens only; 10 epochs at learning rate 0.003)" in full
    assert "over 10 seeds, at the epoch of lowest validation loss" in full


def test_bench_and_cifar_tables(tables):
    encodings, more = tables["bench_encodings.tex"], tables["bench_encodings_more.tex"]
    assert r"\label{tab:bench-encodings}" in encodings and "16.33 (1.25)" in encodings and "H100" not in encodings
    assert r"\label{tab:bench-encodings-nvidia-h100}" in more and "NVIDIA H100" in more
    assert "1.333" in tables["bench_train.tex"] and "10.0 days" in tables["bench_train.tex"]
    assert "70.36 (70.32)" in tables["cifar.tex"] and "not yet run" in tables["cifar.tex"]
    assert "torchrun" in tables["cifar.tex"]


def test_without_per_run_files_the_probe_tables_name_them(results):
    shutil.rmtree(results / "probes" / "probe_diagonal")
    text = build.render(build.TABLES["probes_full"], Results(results))
    assert text.startswith("Not yet run:") and "per-run file" in text and "probe\\_diagonal\\_content runs" in text
    assert not build.render(build.TABLES["probes_predictions"], Results(results)).startswith("Not yet run")


def test_a_probe_summary_from_before_the_design_says_not_yet_run(results, tmp_path, monkeypatch):
    """The earlier design's summary (comparisons, no design): every probe table says so, the others are built."""
    probe = summary(results, "probes")
    del probe["design"]
    write(results / "probes" / "summary.json", probe)
    out = tmp_path / "paper"
    assert build_tables(results, out, monkeypatch) == 0
    for name in ("probes_predictions", "probes_head_fit", "probes_estimates", "probes_full"):
        text = generated(out, f"{name}.tex")
        assert text.startswith("Not yet run:") and "probes/summary.json quotes no design" in text, name
    assert not generated(out, "digits.tex").startswith("Not yet run")


def test_an_old_digits_summary_still_gives_its_tables(results, tmp_path, monkeypatch):
    """Summaries from before the suites: one epochs and seeds setting, a canvas column, no equivalence."""
    old = summary(results, "digits")
    for run in old["runs"]:
        run.pop("extra_acc"), run.pop("dataset")
        run["moved_acc"] = {"16x16 canvas": 0.1}
    old = {k: v for k, v in old.items() if k not in ("suite", "groups", "equivalence")}
    write(
        results / "digits" / "summary.json",
        {**old, "command": "rope-blocks zoo --dataset digits", "epochs": 30, "seeds": [0, 1, 2, 3, 4]},
    )
    out = tmp_path / "paper"
    assert build_tables(results, out, monkeypatch) == 0
    matched = generated(out, "digits_matched.tex")
    assert "16x16" not in matched and "difference" not in matched and "is not in this summary" in matched
    assert table_row(matched, "no rope").split(" & ")[1] == with_ci(
        r["test_acc"] for r in old["runs"] if r["model"] == "vit_no_rope_matched_digits"
    )
    numbers = generated(out, "numbers.tex")
    assert r"\newcommand{\DigitsEpochs}{30}" in numbers and r"\newcommand{\DigitsMatchedSeeds}{5}" in numbers
    assert r"\newcommand{\DigitsEquivalenceMargin}{not yet run}" in numbers


def test_a_summary_without_a_model_size_says_so(results, tmp_path, monkeypatch):
    digits = summary(results, "digits")
    digits["runs"] = [r for r in digits["runs"] if models.size_of(r["model"]) == "digits"]
    write(results / "digits" / "summary.json", digits)
    probe = summary(results, "probes")
    probe["runs"] = [r for r in probe["runs"] if models.size_of(r["model"]) != "probe_quadrant"]
    write(results / "probes" / "summary.json", probe)
    out = tmp_path / "paper"
    assert build_tables(results, out, monkeypatch) == 0
    assert "holds no matched\\_digits models" in generated(out, "digits_matched.tex")
    assert r"\newcommand{\DigitsMatchedSeeds}{not yet run}" in generated(out, "numbers.tex")
    full = generated(out, "probes_full.tex")
    assert "tab:probe-quadrant}" not in full and "tab:probe-quadrant-content}" in full
