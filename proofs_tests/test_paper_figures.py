"""The paper's figures (paper/figures.py): a labelled float and a PDF with TrueType fonts each."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from test_paper_fakes import make_results, summary

from paper import build
from paper.results import Results
from training import probe_suite


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


@pytest.mark.parametrize("name", ["accuracy_vs_k", "curves", "cost", "transfer"])
def test_the_lines_of_a_figure_differ_in_grey(tmp_path, name):
    """Each labelled line has a marker and dash pattern of its own, so a print in grey tells them apart."""
    res = Results(make_results(tmp_path / "results"))
    fig, _ = build.FIGURES[name](res)
    styles = {}
    for ax in fig.axes:
        labelled = [(line.get_label(), line) for line in ax.get_lines()]
        labelled += [(c.get_label(), c.lines[0]) for c in ax.containers]  # errorbar: the label is the container's
        for label, line in labelled:
            if line is not None and label and not label.startswith("_"):
                styles.setdefault(label, (line.get_marker(), line.get_linestyle()))
    assert len(styles) > 2 and len(set(styles.values())) == len(styles), styles


def test_the_transfer_figure_shows_each_designs_mean_on_each_test_of_p3(tmp_path):
    """One panel per size of P3's measured effects; each design's points are its mean accuracy on the panel's tests."""
    results = make_results(tmp_path / "results")
    runs = summary(results, "probes")["runs"]
    fig, caption = build.FIGURES["transfer"](Results(results))
    quadrant = ["test", "held-out quadrant", "moved to a trained quadrant"]
    panels = {
        "quadrant, background kept": ("probe_quadrant", quadrant),
        "quadrant, content tokens only": ("probe_quadrant_content", quadrant),
        "extrapolate, content tokens only": (
            "probe_extrapolate_content",
            ["test", "16x16 grid, marks in 8x8", "16x16 grid"],
        ),
    }
    assert [ax.get_title() for ax in fig.axes] == list(panels)
    for ax in fig.axes:
        size, tests = panels[ax.get_title()]
        assert [c.get_label() for c in ax.containers] == [v.replace("_", " ") for v in probe_suite.GROUPS[size][1]]
        for c in ax.containers:
            mine = [r for r in runs if r["model"] == probe_suite.name(c.get_label().replace(" ", "_"), size)]
            means = [100 * statistics.fmean(r["extra_acc"].get(t, r["test_acc"]) for r in mine) for t in tests]
            assert list(c.lines[0].get_ydata()) == pytest.approx(means), (size, c.get_label())
    assert "interval over 10 seeds, cut to 0--100" in caption
