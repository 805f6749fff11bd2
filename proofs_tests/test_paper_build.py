"""`rope-blocks paper` (commands/paper.py, paper/build.py): the files it writes, where, its PDF and its errors."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_paper_fakes import EXPECTED_VERDICTS, generated, make_results, summary, with_ci

import commands
from commands import paper as paper_command
from paper import build as paper_build
from paper.tex import code

REPO = Path(__file__).resolve().parent.parent
RUNS = REPO / "runs"  # the checkout's default output folder (records.provenance.RUNS)
LATEX = shutil.which("latexmk") is not None and shutil.which("pdftotext") is not None
needs_latex = pytest.mark.skipif(
    not LATEX,
    reason="needs latexmk and pdftotext: `make test` installs texlive-latex-base, "
    "texlive-latex-recommended, latexmk and poppler-utils",
)
MAIN_TEXT_PAGES = 9


def build(results: Path, out: Path, *flags) -> int:
    return paper_command.main(["--results", str(results), "--out", str(out), *flags])


def paper_files() -> dict[str, str]:
    """The hashes of the committed paper's sources and outputs."""
    paper = paper_build.PAPER
    paths = [
        paper / "main.tex",
        paper / "references.bib",
        paper / "build" / "rope-blocks.pdf",
        *sorted((paper / "generated").glob("*")),
    ]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("full") / "results")


@pytest.fixture(scope="module")
def built(full_results, tmp_path_factory):
    """The real paper built once, outside paper/, from the full-size results (its PDF where LaTeX is)."""
    out = tmp_path_factory.mktemp("built") / "paper"
    out.mkdir()
    (out / "main.tex").write_text("an older copy, to be overwritten")
    (out / "notes.txt").write_text("not the build's to touch")
    before = paper_files()
    status = build(full_results, out, *([] if LATEX else ["--no-pdf"]))
    return out, status, before, paper_files()


def test_the_build_writes_every_table_and_figure(built):
    out, status, _, _ = built
    assert status == 0
    for name in [*paper_build.TABLES, *(f"fig_{name}" for name in paper_build.FIGURES)]:
        assert not generated(out, f"{name}.tex").startswith("Not yet run"), name
    for name in paper_build.FIGURES:
        assert (out / "generated" / f"fig_{name}.pdf").read_bytes().startswith(b"%PDF"), name


def test_missing_results_say_not_yet_run_and_name_the_file_and_command(tmp_path, capsys):
    out = tmp_path / "paper"
    (out / "generated").mkdir(parents=True)
    (out / "generated" / "fig_liere.pdf").write_bytes(b"%PDF stale")
    (out / "generated" / "translation.tex").write_text("a table the paper no longer has")
    (tmp_path / "empty").mkdir()
    assert build(tmp_path / "empty", out, "--no-pdf") == 0
    digits = code("rope-blocks zoo --suite digits")
    probe = code("rope-blocks zoo --suite probes")
    for name, needs, command in [
        ("theorems.tex", "theorems.json", "prove"),
        ("digits.tex", "digits/summary.json", digits),
        ("digits_matched.tex", "digits/summary.json", digits),
        ("probes_predictions.tex", "probes/summary.json", probe),
        ("probes_head_fit.tex", "probes/summary.json", probe),
        ("probes_estimates.tex", "probes/summary.json", probe),
        ("probes_full.tex", "probes/summary.json", probe),
        ("bench_encodings.tex", "cpu-encodings.json", "bench"),
        ("bench_train.tex", "cpu-train.json", "bench"),
        ("fig_accuracy_vs_k.tex", "digits/summary.json", digits),
        ("fig_curves.tex", "digits/summary.json", digits),
        ("fig_liere.tex", "theorems.json", "prove"),
        ("fig_cost.tex", "cpu-encodings.json", "bench"),
        ("fig_transfer.tex", "probes/summary.json", probe),
    ]:
        text = generated(out, name)
        assert text.startswith("Not yet run:") and needs in text and command in text and r"\begin{" not in text, name
    assert not list((out / "generated").glob("*.pdf")), "a figure without data must not linger"
    assert not (out / "generated" / "translation.tex").exists(), "nor a table the paper no longer has"
    numbers = generated(out, "numbers.tex")
    for macro in (
        "DigitsEpochs",
        "DigitsEquivalenceMargin",
        "ProbesVerdictPOne",
        "ProbesVerdictPThree",
        "ProbesPThreeBoundBLargest",
        "ProbesPThreeEstimateF",
        "ProbesHeadFitFloor",
        "ProbesEpochsQuadrantContent",
        "ProbesCommit",
        "ProbesRuns",
    ):
        assert f"\\newcommand{{\\{macro}}}{{not yet run}}" in numbers, macro
    assert generated(out, "cifar.tex").count("not yet run") == 11
    printed = capsys.readouterr().out
    assert "theorems.json is missing" in printed and "rope-blocks zoo --suite digits" in printed
    assert "probes/summary.json is missing (run rope-blocks zoo --suite probes)" in printed


def test_out_copies_the_sources_and_leaves_paper_untouched(built):
    out, _, before, after = built
    paper_build.copy_sources(paper_build.PAPER)  # --out paper (make paper): nothing to copy
    assert before == after == paper_files() and any(p.endswith("main.tex") for p in before)
    for name in ("main.tex", "references.bib"):
        assert (out / name).read_bytes() == (paper_build.PAPER / name).read_bytes(), name
    assert (out / "notes.txt").read_text() == "not the build's to touch"
    assert (out / "generated" / "probes_predictions.tex").is_file()


def test_the_command_builds_into_runs_paper_by_default_and_takes_both_flag_spellings(monkeypatch):
    calls = []
    monkeypatch.setattr(paper_build, "build", lambda results, out, pdf: calls.append((results, out, pdf)) or 0)
    assert commands.main(["paper", "--no_pdf"]) == 0 and paper_command.main(["--no-pdf", "--out", "paper"]) == 0
    assert calls == [(REPO / "results", RUNS / "paper", False), (REPO / "results", Path("paper"), False)]


def test_bad_folders_exit_2_with_a_message_naming_the_fix(tmp_path, capsys):
    assert build(tmp_path / "no-such-results", tmp_path / "paper", "--no-pdf") == 2
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks paper: error: ") and "no-such-results does not exist" in err
    assert "results/" in err and not (tmp_path / "paper").exists()
    (tmp_path / "results").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    assert build(tmp_path / "results", tmp_path / "a-file", "--no-pdf") == 2
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks paper: error: cannot write the paper into ") and "a folder you can write" in err


def test_the_paper_imports_nothing_of_the_trainer_the_library_or_the_benchmarks():
    modules = ", ".join(f"paper.{p.stem}" for p in sorted((REPO / "paper").glob("*.py")) if p.stem != "__init__")
    check = (
        f"import sys, {modules}, commands.paper; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'rope_blocks', 'benchmarks')); "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "paper.build" in modules and "paper.figures" in modules


@needs_latex
def test_the_paper_compiles_with_its_tables_and_the_main_text_fits(built, full_results):
    out, status, _, _ = built
    assert status == 0
    text = subprocess.run(
        ["pdftotext", str(out / "build" / "rope-blocks.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "rope-blocks zoo --suite probes" in text and "Not yet run" not in text.replace("not yet run", "")
    runs = summary(full_results, "digits")["runs"]
    model = "vit_commuting_axial_rope_2D_4x4_matched_digits"
    assert with_ci(r["test_acc"] for r in runs if r["model"] == model) in text
    assert "commuting axial rope 2D 4x4" in text
    for pid, verdict in EXPECTED_VERDICTS.items():
        assert f"{pid}, {verdict}: " in text, pid
    aux = (out / "build" / "rope-blocks.aux").read_text()
    page = int(re.search(r"\\newlabel\{page:main-end\}\{\{[^}]*\}\{(\d+)\}", aux).group(1))
    assert page <= MAIN_TEXT_PAGES, f"the main text runs to page {page}"
    log = (out / "build" / "rope-blocks.log").read_text(errors="replace")
    too_wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w < 1.0 for w in too_wide), f"lines or tables wider than the text block: {too_wide}"
    appendix = int(re.search(r"\\newlabel\{tab:probe-quadrant\}\{\{[^}]*\}\{(\d+)\}", aux).group(1))
    assert appendix > page, "the full probe tables are in the appendix"


@needs_latex
def test_a_latex_error_prints_the_log_lines_and_fails(tmp_path, monkeypatch, capsys):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n\\end{document}\n"
    )
    (sources / "references.bib").write_text("")
    monkeypatch.setattr(paper_build, "PAPER", sources)
    (tmp_path / "no-results").mkdir()
    assert build(tmp_path / "no-results", tmp_path / "paper") == 1
    err = capsys.readouterr().err
    assert "Undefined control sequence" in err and "rope-blocks.log" in err


def test_without_latexmk_the_files_are_written_and_the_install_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    out = tmp_path / "paper"
    (tmp_path / "no-results").mkdir()
    assert build(tmp_path / "no-results", out) == 0
    printed = capsys.readouterr().out
    assert "latexmk not found" in printed and "apt-get install -y --no-install-recommends texlive-latex-base" in printed
    assert (out / "generated" / "digits.tex").is_file() and not (out / "build").exists()
