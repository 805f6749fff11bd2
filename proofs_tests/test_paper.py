"""The paper's generated tables and figures say what the result files say, and nothing else."""
from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest

from training import cli

PROVENANCE = {"commit": "0123456789abcdef0123456789abcdef01234567", "date": "2026-01-02T03:04:05Z"}
DIGITS = {  # model -> test accuracy of each seed
    "vit_no_rope_digits": [0.81, 0.85],
    "vit_rope_2D_axial_2x2_digits": [0.9123, 0.9345],
    "vit_commuting_axial_rope_2D_4x4_digits": [0.95, 0.97],
    "vit_liere_rope_2D_4x4_digits": [0.90, 0.88],
    "vit_commuting_mixed_rope_2D_3x3_matched_digits": [0.96, 0.94],
    "vit_rope_2D_axial_2x2_digits_canvas": [0.70, 0.74],
}
MOVES = {"digits": ["16x16 canvas"], "digits_canvas": ["shifted by whole patches", "shifted by any pixels"]}


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def theorem(id_, verdict, residual, table=None):
    return {"id": id_, "statement": f"statement of {id_} with R(x)^T R(y) = R(y - x) and a_b",
            "method": "exact: a symbolic identity; numeric: scipy at random values", "covers": "k = 2..4",
            "verdict": verdict, "residual": residual, "seconds": 0.1, "checks": [], "table": table}


def run(model, seed, acc):
    dataset = "digits_canvas" if model.endswith("_digits_canvas") else "digits"
    return {"model": model, "seed": seed, "run_id": f"{model}_seed{seed}", "reused": False, "best_epoch": 3,
            "val_acc": acc - 0.01, "test_acc": acc, "moved_acc": {m: acc - 0.1 for m in MOVES[dataset]},
            "parameters": 12345, "encoding_parameters": 0,
            "relative_by_theory": None if "no_rope" in model else "liere" not in model,
            "relative_error": None, "train_seconds": 1.0}


def encodings_bench(device):
    rows = [{"shape": "seed", "dims": [2, 4, 64, 32], "label": label, "k": k, "seconds": 0.01,
             "memory_bytes": 1000, "time_ratio": ratio, "memory_ratio": 1.25}
            for label, k, ratio in [("axial", 2, 1.0), ("givens", 2, 1.5), ("givens", 4, 1.25),
                                    ("liere", 2, 7.5), ("liere", 4, 14.25), ("liere", 8, 16.333)]]
    return {"command": "python -m benchmarks.bench_encodings --batch 2", **PROVENANCE, "device": device,
            "torch": "2.14.1", "shapes": {"seed": [2, 4, 64, 32]}, "rows": rows}


@pytest.fixture
def results(tmp_path) -> Path:
    root = tmp_path / "results"
    t9 = [{"k": k, "offset_cells": o, "mean_error": 0.1 * o * (k > 2) + 1e-14, "max_error": 0.2 * o * (k > 2) + 1e-13,
           "mean_leading_term": 0.0} for k in (2, 4) for o in (1, 2, 4)]
    write(root / "theorems.json", {"command": "rope-blocks prove", **PROVENANCE, "seconds": 15.04, "theorems": [
        theorem("T1", True, 1.7030821197749901e-13), theorem("T7", False, 3.0), theorem("T9", True, 9.3e-07, t9)]})
    runs = [run(model, seed, acc) for model, accs in DIGITS.items() for seed, acc in enumerate(accs)]
    write(root / "digits" / "summary.json", {
        "command": "rope-blocks zoo --dataset digits", **PROVENANCE, "device": "CPU (2 cores, x86_64)",
        "wall_seconds": 3600, "epochs": 3, "seeds": [0, 1], "batch_size": 32, "lr": 0.003, "canvas": 16,
        "runs": runs, "failures": []})
    for r in runs:
        history = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": r["val_acc"] * e / 3, "test_acc": r["test_acc"]}
                   for e in (1, 2, 3)]
        dataset = "digits_canvas" if r["model"].endswith("_digits_canvas") else "digits"
        write(root / dataset / f"{r['run_id']}.json", {"model": r["model"], "history": history})
    write(root / "bench" / "cpu-encodings.json", encodings_bench("x86_64 CPU, 2 threads"))
    write(root / "bench" / "nvidia-h100-encodings.json", encodings_bench("NVIDIA H100"))
    write(root / "bench" / "cpu-train.json", {
        "command": "python -m benchmarks.bench_train --models seed", **PROVENANCE, "device": "x86_64 CPU",
        "seed_comparison": "11 models x 25 epochs x 50000 images", "projected_seed_comparison_seconds": {"eager": 864000},
        "rows": [{"model": "vit_rope_2D_axial_2x2_cifar10", "compile": False, "amp": False, "batch": 2,
                  "params": 530570, "seconds_per_step": 1.3333, "images_per_second": 1.5, "memory_bytes": 2**30,
                  "flops_per_image": 9.68e9, "mfu": None,
                  "sdpa_kernels": ["aten::_scaled_dot_product_attention_math"]}]})
    return root


def build(results: Path, out: Path, *flags) -> int:
    return cli.main(["paper", "--results", str(results), "--out", str(out), *flags])


def generated(out: Path, name: str) -> str:
    return (out / "generated" / name).read_text()


def mean_std(accs) -> str:
    """How the tables print accuracies: percent, mean and sample std, one decimal."""
    return f"{100 * statistics.mean(accs):.1f} $\\pm$ {100 * statistics.stdev(accs):.1f}"


def test_tables_hold_the_numbers_of_the_result_files(results, tmp_path):
    out = tmp_path / "paper"
    assert build(results, out, "--no-pdf") == 0

    theorems = generated(out, "theorems.tex")
    assert r"\label{tab:theorems}" in theorems and r"\begin{tabular}" in theorems
    assert r"T1 & \raggedright statement of T1 with R(x)\textasciicircum{}T" in theorems
    assert r"$1.7\cdot 10^{-13}$" in theorems and "not proved & 3 \\\\" in theorems
    assert "exact; numeric" in theorems

    digits = generated(out, "digits.tex")
    assert r"\label{tab:digits}" in digits
    for model, accs in DIGITS.items():
        table = ("translation.tex" if model.endswith("_digits_canvas")
                 else "digits_matched.tex" if "_matched_" in model else "digits.tex")
        assert mean_std(accs) in generated(out, table), model
    moved = [acc - 0.1 for acc in DIGITS["vit_rope_2D_axial_2x2_digits"]]
    assert re.search(r"rope 2D axial 2x2 & axial & 2 & 2 & " + re.escape(mean_std(DIGITS["vit_rope_2D_axial_2x2_digits"]))
                     + " & " + re.escape(mean_std(moved)) + r" & 12,345 & yes \\\\", digits)
    assert re.search(r"liere rope 2D 4x4 & liere & 4 & .* & no \\\\", digits)
    assert "vit_" not in digits and not re.search(r"(?<!\\)_", digits), "model names must be escaped"
    assert "whole patches" in generated(out, "translation.tex") and "any pixels" in generated(out, "translation.tex")
    assert "commuting mixed" in generated(out, "digits_matched.tex")

    encodings = generated(out, "bench_encodings.tex")
    assert r"\label{tab:bench-encodings}" in encodings and r"\label{tab:bench-encodings-nvidia-h100}" in encodings
    assert "16.33 (1.25)" in encodings and "NVIDIA H100" in encodings
    assert "1.333" in generated(out, "bench_train.tex") and "10.0 days" in generated(out, "bench_train.tex")
    assert "70.36 (70.32)" in generated(out, "cifar.tex") and "not yet run" in generated(out, "cifar.tex")
    assert "torchrun" in generated(out, "cifar.tex")

    numbers = generated(out, "numbers.tex")
    for macro, value in [("TheoremsTrue", "2"), ("TheoremsTotal", "3"), ("TheoremsCommit", "0123456"),
                         ("TheoremsSeconds", "15"), ("DigitsSeeds", "2"), ("DigitsRuns", "12"),
                         ("DigitsWallMinutes", "60"), ("DigitsDate", "2026-01-02"), ("BenchDevice", "x86\\_64 CPU, 2 threads")]:
        assert f"\\newcommand{{\\{macro}}}{{{value}}}" in numbers, macro

    for name in ("accuracy_vs_k", "curves", "liere", "cost"):
        assert f"\\label{{fig:{name}}}" in generated(out, f"fig_{name}.tex")
        pdf = (out / "generated" / f"fig_{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Type3" not in pdf, name


def test_missing_results_say_not_yet_run_and_name_the_file(tmp_path, capsys):
    out = tmp_path / "paper"
    (out / "generated").mkdir(parents=True)
    (out / "generated" / "fig_liere.pdf").write_bytes(b"%PDF stale")
    assert build(tmp_path / "empty", out, "--no-pdf") == 0
    for name, needs in [("theorems.tex", "theorems.json"), ("digits.tex", "summary.json"),
                        ("digits_matched.tex", "summary.json"), ("translation.tex", "summary.json"),
                        ("bench_encodings.tex", "cpu-encodings.json"), ("bench_train.tex", "cpu-train.json"),
                        ("fig_accuracy_vs_k.tex", "summary.json"), ("fig_curves.tex", "summary.json"),
                        ("fig_liere.tex", "theorems.json"), ("fig_cost.tex", "cpu-encodings.json")]:
        text = generated(out, name)
        assert text.startswith("Not yet run:") and needs in text and r"\begin{" not in text, name
    assert not list((out / "generated").glob("*.pdf")), "a figure without data must not linger"
    assert r"\newcommand{\DigitsEpochs}{not yet run}" in generated(out, "numbers.tex")
    assert generated(out, "cifar.tex").count("not yet run") == 11
    printed = capsys.readouterr().out
    assert "theorems.json is missing" in printed and "rope-blocks zoo --dataset digits" in printed


def test_a_summary_without_a_model_size_says_so(results, tmp_path):
    summary = json.loads((results / "digits" / "summary.json").read_text())
    summary["runs"] = [r for r in summary["runs"] if r["model"].endswith("_2x2_digits")]
    write(results / "digits" / "summary.json", summary)
    out = tmp_path / "paper"
    assert build(results, out, "--no-pdf") == 0
    assert "holds no digits\\_canvas models" in generated(out, "translation.tex")
    assert "holds no matched\\_digits models" in generated(out, "digits_matched.tex")
    assert mean_std(DIGITS["vit_rope_2D_axial_2x2_digits"]) in generated(out, "digits.tex")


needs_latex = pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
                                 reason="needs latexmk and pdftotext: `make test` installs texlive-latex-base, "
                                        "texlive-latex-recommended, latexmk and poppler-utils")
GENERATED = ["theorems", "digits", "digits_matched", "translation", "cifar", "bench_encodings", "bench_train",
             "fig_accuracy_vs_k", "fig_curves", "fig_liere", "fig_cost"]


def fixture_paper(out: Path, body: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "main.tex").write_text("\\documentclass{article}\n\\usepackage[margin=2.5cm]{geometry}\n"
                                  "\\usepackage{booktabs,graphicx}\n\\input{generated/numbers}\n"
                                  f"\\begin{{document}}\n{body}\n\\end{{document}}\n")


@needs_latex
def test_the_pdf_holds_the_tables(results, tmp_path):
    out = tmp_path / "paper"
    fixture_paper(out, "Proved \\TheoremsTrue{} of \\TheoremsTotal{}.\n" + "\n".join(
        f"\\input{{generated/{name}}}\n\\clearpage" for name in GENERATED))
    assert build(results, out) == 0
    text = subprocess.run(["pdftotext", str(out / "build" / "rope-blocks.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "Proved 2 of 3." in text
    assert "statement of T1 with R(x)" in text and "not proved" in text
    assert "rope-blocks zoo --dataset digits" in text
    accs = DIGITS["vit_commuting_axial_rope_2D_4x4_digits"]
    assert f"{100 * statistics.mean(accs):.1f} ± {100 * statistics.stdev(accs):.1f}" in text
    assert "commuting axial rope 2D 4x4" in text


@needs_latex
def test_a_latex_error_prints_the_log_lines_and_fails(results, tmp_path, capsys):
    out = tmp_path / "paper"
    fixture_paper(out, "\\undefinedmacro")
    assert build(results, out) == 1
    err = capsys.readouterr().err
    assert "Undefined control sequence" in err and "rope-blocks.log" in err


def test_without_latexmk_the_files_are_written_and_the_install_is_named(results, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    out = tmp_path / "paper"
    assert build(results, out) == 0
    printed = capsys.readouterr().out
    assert "latexmk not found" in printed and "apt-get install -y --no-install-recommends texlive-latex-base" in printed
    assert (out / "generated" / "digits.tex").is_file() and not (out / "build").exists()
