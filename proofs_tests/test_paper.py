"""The paper's generated tables and figures say what the result files say, and nothing else."""
from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import statistics
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from paper import build as paper_build
from training import cli, models, probes, zoo

PROVENANCE = {"commit": "0123456789abcdef0123456789abcdef01234567", "date": "2026-01-02T03:04:05Z"}
DEVICE = "CPU (2 cores, x86_64), 2 run(s) at a time, 1 thread each"
DIGITS_SEEDS = {"digits": (0, 1, 2), "matched_digits": (0, 1, 2, 3, 4)}
# The fabricated probe accuracies are made so that the three predictions get three different verdicts.
EXPECTED_VERDICTS = {"P1": "holds", "P2": "fails", "P3": "undecided"}


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def theorem(id_, verdict, residual, table=None):
    return {"id": id_, "statement": f"statement of {id_} with R(x)^T R(y) = R(y - x) and a_b",
            "method": "exact: a symbolic identity; numeric: scipy at random values", "covers": "k = 2..4",
            "verdict": verdict, "residual": residual, "seconds": 0.1, "checks": [], "table": table}


def relative(model: str) -> bool | None:
    if "no_rope" in model:
        return None
    return not ("weighted" in model or ("liere" in model and "_2x2_" not in model))


def noise(model: str, seed: int, test: str, scale: float) -> float:
    return scale * np.random.default_rng([zlib.crc32(f"{model}|{test}".encode()), seed]).standard_normal()


def probe_accuracy(model: str, seed: int, test: str) -> float:
    if models.size_of(model) == "probe_diagonal":  # every rotary design alike: P1 holds, P2 fails
        return (0.62 if "no_rope" in model else 0.85) + noise(model, seed, test, 0.004)
    if test == "test":
        return 0.99 + noise(model, seed, test, 0.003)
    if relative(model):  # moved or larger: about the margin below, with a wide spread: P3 undecided
        return 0.94 + noise(model, seed, test, 0.05)
    return 0.50 + noise(model, seed, test, 0.02)


def run_row(model: str, seed: int, dataset: str, test_acc: float, extra: dict) -> dict:
    return {"model": model, "seed": seed, "dataset": dataset, "run_id": f"{model}_seed{seed}", "reused": False,
            "best_epoch": 3, "val_acc": test_acc - 0.01, "test_acc": test_acc, "extra_acc": extra,
            "parameters": 12345, "encoding_parameters": 0, "relative_by_theory": relative(model),
            "relative_error": None if not relative(model) else 1e-15, "train_seconds": 1.0}


def digits_summary() -> dict:
    runs = [run_row(model, seed, "digits", (0.70 if "no_rope" in model else 0.93) + noise(model, seed, "test", 0.01),
                    {})
            for size, seeds in DIGITS_SEEDS.items() for model in models.model_names(size) for seed in seeds]
    groups = [{"dataset": "digits", "models": models.model_names(size), "seeds": list(seeds), "epochs": 30}
              for size, seeds in DIGITS_SEEDS.items()]
    return {"suite": "digits", "command": "rope-blocks zoo --suite digits", **PROVENANCE, "device": DEVICE,
            "wall_seconds": 3600, "batch_size": 32, "lr": 0.003, "groups": groups, **zoo.analyse("digits", runs),
            "runs": runs, "failures": []}


def probes_summary() -> dict:
    runs, groups = [], []
    for size, (task, variants, epochs) in probes.SUITE.items():
        names = [f"vit_{v}_{size}" for v in variants]
        groups.append({"dataset": task, "models": names, "seeds": list(probes.SEEDS), "epochs": epochs})
        tests = {"probe_shift": ["moved by whole patches", "moved off the patch grid"],
                 "probe_extrapolate": ["12x12 grid", "16x16 grid"]}.get(task, [])
        runs += [run_row(m, s, task, probe_accuracy(m, s, "test"), {t: probe_accuracy(m, s, t) for t in tests})
                 for m in names for s in probes.SEEDS]
    return {"suite": "probes", "command": "rope-blocks zoo --suite probes", **PROVENANCE, "device": DEVICE,
            "wall_seconds": 5400, "batch_size": 32, "lr": 0.003, "groups": groups, **zoo.analyse("probes", runs),
            "runs": runs, "failures": []}


def encodings_bench(device):
    """Every design and shape of the real benchmark, so that its table has its real size."""
    shapes = {"seed": [2, 4, 64, 32], "vit_b": [2, 12, 197, 64]}
    ratios = {("axial", 2): 1.0, ("givens", 2): 1.5, ("givens", 4): 1.25, ("liere", 2): 7.5, ("liere", 4): 14.25,
              ("liere", 8): 16.333}
    labels = ["axial", "mixed", "givens", "weighted", "commuting/fixed", "commuting/cayley", "commuting/logits",
              "liere", "liere-exp", "comrope-exp"]
    rows = [{"shape": shape, "dims": dims, "label": label, "k": k, "seconds": 0.01, "memory_bytes": 1000,
             "time_ratio": ratios.get((label, k), 2.0), "memory_ratio": 1.25}
            for shape, dims in shapes.items() for label in labels for k in (2, 4, 8)
            if label not in ("axial", "mixed") or k == 2]
    return {"command": "python -m benchmarks.bench_encodings --batch 2", **PROVENANCE, "device": device,
            "torch": "2.14.1", "shapes": shapes, "rows": rows}


def make_results(root: Path) -> Path:
    """Full-size results: every model of both suites at their seeds, so the paper has its final length."""
    t9 = [{"k": k, "offset_cells": o, "mean_error": 0.1 * o * (k > 2) + 1e-14, "max_error": 0.2 * o * (k > 2) + 1e-13,
           "mean_leading_term": 0.0} for k in (2, 4) for o in (1, 2, 4)]
    write(root / "theorems.json", {"command": "rope-blocks prove", **PROVENANCE, "seconds": 15.04, "theorems": [
        theorem("T1", True, 1.7030821197749901e-13), theorem("T7", False, 3.0), theorem("T9", True, 9.3e-07, t9)]})
    digits = digits_summary()
    write(root / "digits" / "summary.json", digits)
    for r in digits["runs"]:
        history = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": r["val_acc"] * e / 3, "test_acc": r["test_acc"]}
                   for e in (1, 2, 3)]
        write(root / "digits" / f"{r['run_id']}.json", {"model": r["model"], "history": history})
    write(root / "probes" / "summary.json", probes_summary())
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


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("full") / "results")


@pytest.fixture
def results(full_results, tmp_path) -> Path:
    """A copy of the full-size results that a test may change."""
    return Path(shutil.copytree(full_results, tmp_path / "results"))


def build(results: Path, out: Path, *flags) -> int:
    return cli.main(["paper", "--results", str(results), "--out", str(out), *flags])


def generated(out: Path, name: str) -> str:
    return (out / "generated" / name).read_text()


def summary(results: Path, suite: str) -> dict:
    return json.loads((results / suite / "summary.json").read_text())


def interval(values) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval in percent, computed here independently of training/stats.py."""
    values = list(values)
    mean = statistics.fmean(values)
    half = scipy_stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return 100 * mean, 100 * (mean - half), 100 * (mean + half)


def with_ci(values) -> str:
    """How the tables print accuracies: percent, mean [low, high], one decimal."""
    return "{:.1f} [{:.1f}, {:.1f}]".format(*interval(values))


def with_half_width(values) -> str:
    """How the compact probe table prints them: the mean and the interval's half-width."""
    mean, low, high = interval(values)
    return f"{mean:.1f}{{\\scriptsize$\\pm${(high - low) / 2:.1f}}}"


def signed(x: float) -> str:
    """Points with their sign, one decimal; zero unsigned."""
    text = f"{x:+.1f}"
    return "$0.0$" if float(text) == 0 else f"${text}$"


def paired(runs: list[dict], a: list[str], a_test: str, b: list[str], b_test: str) -> str:
    """A comparison recomputed from the runs: mean over each side's models, seed by seed, then A - B."""
    def side(names, test):
        return {s: statistics.fmean((r["test_acc"] if test == "test" else r["extra_acc"][test])
                                    for r in runs if r["model"] in names and r["seed"] == s)
                for s in sorted({r["seed"] for r in runs if r["model"] in names})}
    sa, sb = side(a, a_test), side(b, b_test)
    mean, low, high = interval(sa[s] - sb[s] for s in sa)
    return f"{signed(mean)} [{signed(low)}, {signed(high)}]"


def table_row(text: str, first_cell: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(first_cell + " & ")]
    assert len(rows) == 1, (first_cell, rows)
    return rows[0]


LATEX = shutil.which("latexmk") is not None and shutil.which("pdftotext") is not None
needs_latex = pytest.mark.skipif(not LATEX,
                                 reason="needs latexmk and pdftotext: `make test` installs texlive-latex-base, "
                                        "texlive-latex-recommended, latexmk and poppler-utils")
MAIN_TEXT_PAGES = 10


def paper_files() -> dict[str, str]:
    """The hashes of the committed paper's sources and outputs."""
    paper = paper_build.PAPER
    paths = [paper / "main.tex", paper / "references.bib", paper / "build" / "rope-blocks.pdf",
             *sorted((paper / "generated").glob("*"))]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def built(full_results, tmp_path_factory):
    """The real paper built once, outside paper/, from the full-size results (its PDF where LaTeX is)."""
    out = tmp_path_factory.mktemp("built") / "paper"
    out.mkdir()
    (out / "main.tex").write_text("an older copy, to be overwritten")
    (out / "notes.txt").write_text("not the build's to touch")
    before = paper_files()
    code = build(full_results, out, *([] if LATEX else ["--no-pdf"]))
    return out, code, before, paper_files()


def test_tables_hold_the_numbers_of_the_result_files(built, full_results):
    out, code, _, _ = built
    assert code == 0

    theorems = generated(out, "theorems.tex")
    assert r"\label{tab:theorems}" in theorems and r"\begin{tabular}" in theorems
    assert r"T1 & \raggedright statement of T1 with R(x)\textasciicircum{}T" in theorems
    assert r"$1.7\cdot 10^{-13}$" in theorems and "not proved & 3 \\\\" in theorems
    assert "exact; numeric" in theorems

    digits = summary(full_results, "digits")
    eq = {c["a"][0]: c for c in digits["equivalence"]["comparisons"]}
    for size, name in [("digits", "digits.tex"), ("matched_digits", "digits_matched.tex")]:
        text = generated(out, name)
        assert "vit_" not in text and not re.search(r"(?<!\\)_", text), "model names must be escaped"
        assert "canvas" not in text
        for model in models.model_names(size):
            cells = table_row(text, paper_build.tex(paper_build.short_name(model))).split(" & ")
            assert cells[1] == with_ci(r["test_acc"] for r in digits["runs"] if r["model"] == model), model
            if size == "matched_digits" and model in eq:
                c = eq[model]
                assert cells[2] == paired(digits["runs"], c["a"], "test", c["b"], "test"), model
                assert cells[3] == {"holds": "equivalent", "fails": "differs", "undecided": "undecided"}[c["verdict"]]
    matched = generated(out, "digits_matched.tex")
    assert table_row(matched, "mixed rope 2D 2x2").split(" & ")[2:4] == ["reference", ""]
    assert r"within $\pm$3 points" in matched and "difference" not in generated(out, "digits.tex")
    assert re.search(r"liere rope 2D 4x4 & .* & 12,345 & no \\\\", matched)

    runs = summary(full_results, "probes")["runs"]
    diagonal = generated(out, "probes_diagonal.tex")
    model = "vit_commuting_mixed_rope_2D_8x8_probe_diagonal"
    assert table_row(diagonal, "commuting mixed rope 2D 8x8").endswith(
        " & " + with_ci(r["test_acc"] for r in runs if r["model"] == model) + r" \\")
    transfer = generated(out, "probes_transfer.tex")
    cells = table_row(transfer, "liere rope 2D 4x4").removesuffix(r" \\").split(" & ")
    expected = [with_half_width(r[key] if key == "test_acc" else r["extra_acc"][key] for r in runs if r["model"] == m)
                for size, keys in [("probe_shift", ["test_acc", "moved by whole patches", "moved off the patch grid"]),
                                   ("probe_extrapolate", ["test_acc", "12x12 grid", "16x16 grid"]),
                                   ("probe_extrapolate_cls", ["test_acc", "12x12 grid", "16x16 grid"])]
                for m in [f"vit_liere_rope_2D_4x4_{size}"] for key in keys]
    assert cells == ["liere rope 2D 4x4", "no", *expected]

    predictions = summary(full_results, "probes")["predictions"]
    assert {pid: p["verdict"] for pid, p in predictions.items()} == EXPECTED_VERDICTS
    numbers = generated(out, "numbers.tex")
    for pid, p in predictions.items():
        word = {"P1": "POne", "P2": "PTwo", "P3": "PThree"}[pid]
        assert f"\\newcommand{{\\ProbesVerdict{word}}}{{{p['verdict']}}}" in numbers
        text = generated(out, f"probes_{pid.lower()}.tex")
        assert f"\\label{{tab:{pid.lower()}}}" in text
        for letter, c in zip("ABCD", p["comparisons"]):
            diff = paired(runs, c["a"], c["a_test"], c["b"], c["b_test"])
            assert f"{paper_build.tex(c['claim'])} & {diff} & {c['kind']} & {100 * c['margin']:g} & 5 & " \
                   f"{c['verdict']} \\\\" in text, c["claim"]
            assert f"\\newcommand{{\\Probes{word}Diff{letter}}}{{{diff}}}" in numbers
            assert f"\\newcommand{{\\Probes{word}Verdict{letter}}}{{{c['verdict']}}}" in numbers
    full = generated(out, "probes_full.tex")
    for size in probes.SUITE:
        assert f"\\label{{tab:{size.replace('_', '-')}}}" in full
    model = "vit_weighted_rope_2D_axial_3x3_probe_shift"
    shift = next(t for t in full.split(r"\end{table}") if r"\label{tab:probe-shift}" in t)
    assert table_row(shift, "weighted rope 2D axial 3x3").startswith(
        "weighted rope 2D axial 3x3 & " + with_ci(r["test_acc"] for r in runs if r["model"] == model)
        + " & " + with_ci(r["extra_acc"]["moved by whole patches"] for r in runs if r["model"] == model))

    encodings, more = generated(out, "bench_encodings.tex"), generated(out, "bench_encodings_more.tex")
    assert r"\label{tab:bench-encodings}" in encodings and "16.33 (1.25)" in encodings and "H100" not in encodings
    assert r"\label{tab:bench-encodings-nvidia-h100}" in more and "NVIDIA H100" in more
    assert "1.333" in generated(out, "bench_train.tex") and "10.0 days" in generated(out, "bench_train.tex")
    assert "70.36 (70.32)" in generated(out, "cifar.tex") and "not yet run" in generated(out, "cifar.tex")
    assert "torchrun" in generated(out, "cifar.tex")

    for macro, value in [("TheoremsTrue", "2"), ("TheoremsTotal", "3"), ("TheoremsCommit", "0123456"),
                         ("TheoremsSeconds", "15"), ("DigitsSizeSeeds", "3"), ("DigitsMatchedSeeds", "5"),
                         ("DigitsRuns", str(25 * 3 + 24 * 5)), ("DigitsEpochs", "30"), ("DigitsWallMinutes", "60"),
                         ("DigitsDate", "2026-01-02"), ("DigitsEquivalenceMargin", "3"),
                         ("DigitsEquivalenceReference", "mixed rope 2D 2x2"),
                         ("DigitsEquivalenceCompared", str(len(eq))),
                         ("DigitsEquivalenceEquivalent", str(sum(c["verdict"] == "holds" for c in eq.values()))),
                         ("ProbesRuns", "170"), ("ProbesModels", "34"), ("ProbesSeeds", "5"),
                         ("ProbesWallMinutes", "90"), ("ProbesEpochsDiagonal", "20"), ("ProbesEpochsShift", "5"),
                         ("ProbesEpochsExtrapolate", "10"),
                         ("ProbesCommand", r"\texttt{rope-{}blocks zoo -{}-{}suite probes}"),
                         ("BenchDevice", "x86\\_64 CPU, 2 threads")]:
        assert f"\\newcommand{{\\{macro}}}{{{value}}}" in numbers, macro
    assert not re.search(r"\\newcommand\{\\[A-Za-z]*[0-9]", numbers), "TeX macro names hold no digits"

    for name in ("accuracy_vs_k", "curves", "liere", "cost", "transfer"):
        assert f"\\label{{fig:{name}}}" in generated(out, f"fig_{name}.tex")
        pdf = (out / "generated" / f"fig_{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Type3" not in pdf, name


def test_missing_results_say_not_yet_run_and_name_the_file_and_command(tmp_path, capsys):
    out = tmp_path / "paper"
    (out / "generated").mkdir(parents=True)
    (out / "generated" / "fig_liere.pdf").write_bytes(b"%PDF stale")
    (out / "generated" / "translation.tex").write_text("a table the paper no longer has")
    assert build(tmp_path / "empty", out, "--no-pdf") == 0
    digits = paper_build.code("rope-blocks zoo --suite digits")
    probe = paper_build.code("rope-blocks zoo --suite probes")
    for name, needs, command in [
            ("theorems.tex", "theorems.json", "prove"), ("digits.tex", "digits/summary.json", digits),
            ("digits_matched.tex", "digits/summary.json", digits),
            ("probes_diagonal.tex", "probes/summary.json", probe),
            ("probes_transfer.tex", "probes/summary.json", probe), ("probes_p1.tex", "probes/summary.json", probe),
            ("probes_p2.tex", "probes/summary.json", probe), ("probes_p3.tex", "probes/summary.json", probe),
            ("probes_full.tex", "probes/summary.json", probe), ("bench_encodings.tex", "cpu-encodings.json", "bench"),
            ("bench_train.tex", "cpu-train.json", "bench"), ("fig_accuracy_vs_k.tex", "digits/summary.json", digits),
            ("fig_curves.tex", "digits/summary.json", digits), ("fig_liere.tex", "theorems.json", "prove"),
            ("fig_cost.tex", "cpu-encodings.json", "bench"), ("fig_transfer.tex", "probes/summary.json", probe)]:
        text = generated(out, name)
        assert text.startswith("Not yet run:") and needs in text and command in text and r"\begin{" not in text, name
    assert not list((out / "generated").glob("*.pdf")), "a figure without data must not linger"
    assert not (out / "generated" / "translation.tex").exists(), "nor a table the paper no longer has"
    numbers = generated(out, "numbers.tex")
    for macro in ("DigitsEpochs", "DigitsEquivalenceMargin", "ProbesVerdictPOne", "ProbesVerdictPThree",
                  "ProbesPThreeDiffD", "ProbesCommit", "ProbesRuns"):
        assert f"\\newcommand{{\\{macro}}}{{not yet run}}" in numbers, macro
    assert generated(out, "cifar.tex").count("not yet run") == 11
    printed = capsys.readouterr().out
    assert "theorems.json is missing" in printed and "rope-blocks zoo --suite digits" in printed
    assert "probes/summary.json is missing (run rope-blocks zoo --suite probes)" in printed


def test_an_old_digits_summary_still_gives_its_tables(results, tmp_path, monkeypatch):
    """Summaries from before the suites: one epochs and seeds setting, a canvas column, no equivalence."""
    monkeypatch.setattr(paper_build, "FIGURES", {})  # only the tables matter here
    old = summary(results, "digits")
    for run in old["runs"]:
        run.pop("extra_acc"), run.pop("dataset")
        run["moved_acc"] = {"16x16 canvas": 0.1}
    old = {k: v for k, v in old.items() if k not in ("suite", "groups", "equivalence")}
    write(results / "digits" / "summary.json", {**old, "command": "rope-blocks zoo --dataset digits", "epochs": 30,
                                                "seeds": [0, 1, 2, 3, 4]})
    out = tmp_path / "paper"
    assert build(results, out, "--no-pdf") == 0
    matched = generated(out, "digits_matched.tex")
    assert "16x16" not in matched and "difference" not in matched and "is not in this summary" in matched
    assert table_row(matched, "no rope").split(" & ")[1] == with_ci(
        r["test_acc"] for r in old["runs"] if r["model"] == "vit_no_rope_matched_digits")
    numbers = generated(out, "numbers.tex")
    assert r"\newcommand{\DigitsEpochs}{30}" in numbers and r"\newcommand{\DigitsMatchedSeeds}{5}" in numbers
    assert r"\newcommand{\DigitsEquivalenceMargin}{not yet run}" in numbers


def test_a_summary_without_a_model_size_says_so(results, tmp_path, monkeypatch):
    monkeypatch.setattr(paper_build, "FIGURES", {})  # only the tables matter here
    digits = summary(results, "digits")
    digits["runs"] = [r for r in digits["runs"] if models.size_of(r["model"]) == "digits"]
    write(results / "digits" / "summary.json", digits)
    probe = summary(results, "probes")
    probe["runs"] = [r for r in probe["runs"] if models.size_of(r["model"]) != "probe_shift"]
    write(results / "probes" / "summary.json", probe)
    out = tmp_path / "paper"
    assert build(results, out, "--no-pdf") == 0
    assert "holds no matched\\_digits models" in generated(out, "digits_matched.tex")
    assert r"\newcommand{\DigitsMatchedSeeds}{not yet run}" in generated(out, "numbers.tex")
    transfer = generated(out, "probes_transfer.tex")
    assert "probe\\_shift" not in transfer and "probe\\_extrapolate\\_cls" in transfer
    assert "tab:probe-shift" not in generated(out, "probes_full.tex")


def test_out_copies_the_sources_and_leaves_paper_untouched(built):
    out, _, before, after = built
    paper_build.copy_sources(paper_build.PAPER)  # the default --out: nothing to copy
    assert before == after == paper_files() and any(p.endswith("main.tex") for p in before)
    for name in ("main.tex", "references.bib"):
        assert (out / name).read_bytes() == (paper_build.PAPER / name).read_bytes(), name
    assert (out / "notes.txt").read_text() == "not the build's to touch"
    assert (out / "generated" / "probes_p1.tex").is_file()


@needs_latex
def test_the_paper_compiles_with_its_tables_and_the_main_text_fits(built, full_results):
    out, code, _, _ = built
    assert code == 0
    text = subprocess.run(["pdftotext", str(out / "build" / "rope-blocks.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "rope-blocks zoo --suite probes" in text and "Not yet run" not in text.replace("not yet run", "")
    runs = summary(full_results, "digits")["runs"]
    model = "vit_commuting_axial_rope_2D_4x4_matched_digits"
    assert with_ci(r["test_acc"] for r in runs if r["model"] == model) in text
    assert "commuting axial rope 2D 4x4" in text
    for pid, verdict in EXPECTED_VERDICTS.items():
        assert f"Prediction {pid}, verdict {verdict}." in text, pid
    aux = (out / "build" / "rope-blocks.aux").read_text()
    page = int(re.search(r"\\newlabel\{page:main-end\}\{\{[^}]*\}\{(\d+)\}", aux).group(1))
    assert page <= MAIN_TEXT_PAGES, f"the main text runs to page {page}"
    appendix = int(re.search(r"\\newlabel\{tab:probe-shift\}\{\{[^}]*\}\{(\d+)\}", aux).group(1))
    assert appendix > page, "the full probe tables are in the appendix"


@needs_latex
def test_a_latex_error_prints_the_log_lines_and_fails(tmp_path, monkeypatch, capsys):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "main.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n"
                                      "\\end{document}\n")
    (sources / "references.bib").write_text("")
    monkeypatch.setattr(paper_build, "PAPER", sources)
    assert build(tmp_path / "no-results", tmp_path / "paper") == 1
    err = capsys.readouterr().err
    assert "Undefined control sequence" in err and "rope-blocks.log" in err


def test_without_latexmk_the_files_are_written_and_the_install_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    out = tmp_path / "paper"
    assert build(tmp_path / "no-results", out) == 0
    printed = capsys.readouterr().out
    assert "latexmk not found" in printed and "apt-get install -y --no-install-recommends texlive-latex-base" in printed
    assert (out / "generated" / "digits.tex").is_file() and not (out / "build").exists()
