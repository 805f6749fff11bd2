"""The paper's figures (paper/figures.py): a labelled float and a PDF with TrueType fonts each."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_paper_fakes import make_results

from paper import build
from paper.results import Results


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> Path:
    """The figures drawn from the full-size results into generated/, as the build draws them."""
    root = tmp_path_factory.mktemp("figures")
    res = Results(make_results(root / "results"))
    out = root / "paper" / "generated"
    out.mkdir(parents=True)
    for name, make in build.FIGURES.items():
        (out / f"fig_{name}.tex").write_text(build.render(make, res, out / f"fig_{name}.pdf"))
    return out


@pytest.mark.parametrize("name", ["accuracy_vs_k", "curves", "liere", "cost", "transfer"])
def test_each_figure_is_a_labelled_float_with_truetype_fonts(figures, name):
    assert f"\\label{{fig:{name}}}" in (figures / f"fig_{name}.tex").read_text()
    pdf = (figures / f"fig_{name}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Type3" not in pdf, name


def test_an_unchanged_figure_is_byte_identical(figures, tmp_path):
    """No creation date in the PDF: rebuilding the paper leaves its committed figures as they are."""
    res = Results(figures.parent.parent / "results")
    build.render(build.FIGURES["liere"], res, tmp_path / "fig_liere.pdf")
    assert (tmp_path / "fig_liere.pdf").read_bytes() == (figures / "fig_liere.pdf").read_bytes()
