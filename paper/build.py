"""The paper built: its tables and figures generated from the result files, its sources copied, its PDF compiled.

Every number in the paper comes from a file under results/, or, for the seed study's cited CIFAR10
accuracies, from paper/seed_cifar10.json. A table or figure whose file is missing becomes a
sentence naming the file and the command that makes it, so the paper builds at every stage.
The command line is commands/paper.py (`rope-blocks paper`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from paper.figures import FIGURES, figure
from paper.macros import numbers
from paper.results import Missing, Results, shown
from paper.tables import TABLES as RESULT_TABLES

PAPER = Path(__file__).resolve().parent  # the folder of main.tex and references.bib, copied into any other out
SOURCES = ("main.tex", "references.bib")
LATEX_INSTALL = (
    "apt-get update && apt-get install -y --no-install-recommends "
    "texlive-latex-base texlive-latex-recommended latexmk poppler-utils"
)
TABLES = {"numbers": numbers, **RESULT_TABLES}  # generated file -> its maker


def render(make, res: Results, pdf: Path | None = None) -> str:
    """The TeX of one generated file (a figure's drawing saved to `pdf`), or the not-yet-run paragraph."""
    try:
        made = make(res)
    except Missing as missing:
        return missing.paragraph
    return figure(*made, pdf) if pdf else made


def generate(res: Results, out: Path) -> list[Path]:
    generated = out / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in TABLES.items():
        written.append(generated / f"{name}.tex")
        written[-1].write_text(render(make, res))
    for name, make in FIGURES.items():
        pdf = generated / f"fig_{name}.pdf"
        pdf.unlink(missing_ok=True)  # a figure whose data went missing must not linger
        written.append(generated / f"fig_{name}.tex")
        written[-1].write_text(render(make, res, pdf))
    for path in generated.glob("*.tex"):  # nor a table or figure the paper no longer has
        if path not in written:
            path.unlink()
            path.with_suffix(".pdf").unlink(missing_ok=True)
    return written


def copy_sources(out: Path) -> None:
    """Build outside paper/: the paper's own sources are copied in, so that paper/ stays as it is."""
    if out.resolve() == PAPER.resolve():
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        shutil.copyfile(PAPER / name, out / name)


def compile_pdf(out: Path) -> int:
    if shutil.which("latexmk") is None:
        print(
            f"latexmk not found: the tables and figures are written, the PDF is not. Install LaTeX with\n"
            f"  {LATEX_INSTALL}\nor run `make paper`, which does that where it can."
        )
        return 0
    done = subprocess.run(
        [
            "latexmk",
            "-pdf",
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-outdir=build",
            "-jobname=rope-blocks",
            "main.tex",
        ],
        cwd=out,
        capture_output=True,
        text=True,
        check=False,
    )
    log = out / "build" / "rope-blocks.log"
    if done.returncode != 0:
        lines = (log.read_text(errors="replace") if log.is_file() else done.stdout + done.stderr).splitlines()
        errors = [line for line in lines if line.startswith(("!", "l."))] or lines[-20:]
        print("LaTeX failed:\n  " + "\n  ".join(errors) + f"\nfull log: {shown(log)}", file=sys.stderr)
        return 1
    print(f"PDF: {shown(out / 'build' / 'rope-blocks.pdf')}")
    return 0


def check_folders(results: Path, out: Path) -> None:
    """ValueError, naming the fix, for a results folder that is not there or an out folder that cannot be written."""
    if not results.is_dir():
        raise ValueError(
            f"the results folder {shown(results)} does not exist; give the folder that holds "
            "theorems.json, digits/, probes/ and bench/ (by default the repository's results/)."
        )
    generated = out / "generated"
    try:
        generated.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        problem = e.strerror or str(e)
    else:
        problem = None if os.access(generated, os.W_OK) else "permission denied"
    if problem:
        raise ValueError(
            f"cannot write the paper into {shown(out)} ({problem.lower()}); give a folder you can write "
            "to, e.g. runs/paper."
        )


def build(results: Path, out: Path, pdf: bool = True) -> int:
    """Write out/generated/ from `results` (with main.tex and references.bib when out is not paper/), then
    compile out/build/rope-blocks.pdf when `pdf`. 0 when built, 1 when LaTeX fails; ValueError on bad folders."""
    check_folders(results, out)
    res = Results(results)
    copy_sources(out)
    written = generate(res, out)
    print(f"wrote {len(written)} files to {shown(out / 'generated')}/")
    for path, command in res.missing.items():
        print(f"  not yet run: {path} is missing (run {command}); its tables and figures say so")
    return compile_pdf(out) if pdf else 0
