"""The paper's tables (paper/tables.py) say what the result files say, and nothing else."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_paper_fakes import generated, make_results, paired, summary, table_row, with_ci, with_half_width, write

from paper import build
from paper.results import Results
from paper.runs import short_name
from paper.tex import tex
from training import fashion_suite, models, probes


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


def test_probe_tables_hold_each_models_interval(tables, full_results):
    runs = summary(full_results, "probes")["runs"]
    diagonal = tables["probes_diagonal.tex"]
    model = "vit_commuting_mixed_rope_2D_8x8_probe_diagonal"
    assert table_row(diagonal, "commuting mixed rope 2D 8x8").endswith(
        " & " + with_ci(r["test_acc"] for r in runs if r["model"] == model) + r" \\"
    )
    assert table_row(diagonal, "commuting mixed rope 2D 8x8").startswith(
        "commuting mixed rope 2D 8x8 & commuting mixed & 8 & "
    )
    assert table_row(diagonal, "no rope").startswith("no rope & none & -- & ")
    transfer = tables["probes_transfer.tex"]
    cells = table_row(transfer, "liere rope 2D 4x4").removesuffix(r" \\").split(" & ")
    expected = [
        with_half_width(r[key] if key == "test_acc" else r["extra_acc"][key] for r in runs if r["model"] == m)
        for size, keys in [
            ("probe_shift", ["test_acc", "moved by whole patches", "moved off the patch grid"]),
            ("probe_extrapolate", ["test_acc", "12x12 grid", "16x16 grid"]),
            ("probe_extrapolate_cls", ["test_acc", "12x12 grid", "16x16 grid"]),
        ]
        for m in [f"vit_liere_rope_2D_4x4_{size}"]
        for key in keys
    ]
    assert cells == ["liere rope 2D 4x4", "no", *expected]

    full = tables["probes_full.tex"]
    for size in probes.SUITE:
        assert f"\\label{{tab:{size.replace('_', '-')}}}" in full
    model = "vit_weighted_rope_2D_axial_3x3_probe_shift"
    shift = next(t for t in full.split(r"\end{table}") if r"\label{tab:probe-shift}" in t)
    assert table_row(shift, "weighted rope 2D axial 3x3").startswith(
        "weighted rope 2D axial 3x3 & "
        + with_ci(r["test_acc"] for r in runs if r["model"] == model)
        + " & "
        + with_ci(r["extra_acc"]["moved by whole patches"] for r in runs if r["model"] == model)
    )


def test_probe_captions_give_the_architecture_the_runs_record(tables):
    """Depth, patches and pooling come from each run's own result file (its model_config)."""
    assert "The diagonal task (depth 1, mean pooling): " in tables["probes_diagonal.tex"]
    full = tables["probes_full.tex"]
    assert r"\texttt{probe\_shift} (depth 2, 2$\times$2 patches, mean pooling; 5 epochs)" in full
    assert r"\texttt{probe\_extrapolate} (depth 2, mean pooling; 10 epochs)" in full
    assert r"model size \texttt{probe\_extrapolate\_cls} (depth 2, class token; 10 epochs)" in full


def test_prediction_tables_hold_each_comparison(tables, full_results):
    runs = summary(full_results, "probes")["runs"]
    for pid, p in summary(full_results, "probes")["predictions"].items():
        text = tables[f"probes_{pid.lower()}.tex"]
        assert f"\\label{{tab:{pid.lower()}}}" in text
        for c in p["comparisons"]:
            diff = paired(runs, c["a"], c["a_test"], c["b"], c["b_test"])
            assert (
                f"{tex(c['claim'])} & {diff} & {c['kind']} & {100 * c['margin']:g} & 5 & {c['verdict']} \\\\" in text
            ), c["claim"]


def test_bench_and_cifar_tables(tables):
    encodings, more = tables["bench_encodings.tex"], tables["bench_encodings_more.tex"]
    assert r"\label{tab:bench-encodings}" in encodings and "16.33 (1.25)" in encodings and "H100" not in encodings
    assert r"\label{tab:bench-encodings-nvidia-h100}" in more and "NVIDIA H100" in more
    assert "1.333" in tables["bench_train.tex"] and "10.0 days" in tables["bench_train.tex"]
    assert "70.36 (70.32)" in tables["cifar.tex"] and "not yet run" in tables["cifar.tex"]
    assert "torchrun" in tables["cifar.tex"]


def test_without_per_run_files_the_probe_tables_name_them(results):
    shutil.rmtree(results / "probes" / "probe_diagonal")
    text = build.render(build.TABLES["probes_diagonal"], Results(results))
    assert text.startswith("Not yet run:") and "per-run file" in text and "probe\\_diagonal runs" in text


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
    probe["runs"] = [r for r in probe["runs"] if models.size_of(r["model"]) != "probe_shift"]
    write(results / "probes" / "summary.json", probe)
    out = tmp_path / "paper"
    assert build_tables(results, out, monkeypatch) == 0
    assert "holds no matched\\_digits models" in generated(out, "digits_matched.tex")
    assert r"\newcommand{\DigitsMatchedSeeds}{not yet run}" in generated(out, "numbers.tex")
    transfer = generated(out, "probes_transfer.tex")
    assert "probe\\_shift" not in transfer and "probe\\_extrapolate\\_cls" in transfer
    assert "tab:probe-shift" not in generated(out, "probes_full.tex")
