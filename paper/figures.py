"""The paper's figures: each function returns (matplotlib figure, caption), or raises Missing."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from paper.results import DIGITS, PROBES, PROVE, THEOREMS, ZOO, Missing, Results, shown
from paper.runs import (
    block_size,
    extra_tests,
    family,
    models_of,
    probe_models,
    probe_summary,
    scores,
    seed_count,
    short_name,
    size_of,
    sizes_of,
    variant,
)
from paper.tex import code, error_bars, interval, source, tex

matplotlib.use("Agg")  # files only, no window, wherever a display is set
# TrueType fonts: journals and arXiv reject the Type 3 fonts matplotlib embeds by default.
plt.rcParams.update({"pdf.fonttype": 42, "font.size": 8, "figure.figsize": (6.4, 2.8)})


def figure(fig, caption: str, pdf: Path) -> str:
    """Save `fig` to `pdf` and return the TeX float that includes it."""
    # No creation date: an unchanged figure stays byte-identical in git.
    fig.savefig(pdf, metadata={"CreationDate": None}, bbox_inches="tight")
    plt.close(fig)
    name = pdf.stem.removeprefix("fig_")
    return "\n".join(
        [
            r"\begin{figure}[htbp]",
            r"\centering",
            f"\\includegraphics[width=\\linewidth]{{generated/{pdf.name}}}",
            f"\\caption{{{caption}}}",
            f"\\label{{fig:{name}}}",
            r"\end{figure}",
            "",
        ]
    )


# Markers and dashes tell the lines apart where colours do not (a print in grey).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
DASHES = ("-", "--", "-.", ":")


def palette(names) -> dict[str, dict]:
    """One style (colour, marker, line style) per name, the same in every panel."""
    return {
        name: {"color": f"C{i % 10}", "marker": MARKERS[i % len(MARKERS)], "linestyle": DASHES[i % len(DASHES)]}
        for i, name in enumerate(dict.fromkeys(names))
    }


def log2_axis(ax, ks) -> None:
    """Block sizes on a log2 axis, labelled with the sizes measured."""
    ks = sorted(set(ks))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, labels=[str(k) for k in ks])
    ax.minorticks_off()


def legend_below(fig, axes) -> None:
    """One legend for all panels, below them: the panels share colours, so each name appears once."""
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.tight_layout()  # the axis labels inside the figure, so that the legend goes under them
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=4,
        fontsize=7,
        frameon=False,
    )


def accuracy_panel(ax, groups: dict[str, list[dict]], colours: dict[str, str]) -> None:
    """One size's test accuracy against block size, a line per family."""
    by_family: dict[str, dict[int | None, list[float]]] = {}
    for model, runs in groups.items():
        by_family.setdefault(family(model), {}).setdefault(block_size(model), []).extend(r["test_acc"] for r in runs)
    for name, by_k in by_family.items():
        if None in by_k:  # no rotation, no block size: a reference line
            ax.axhline(100 * statistics.mean(by_k[None]), color=colours[name]["color"], linestyle="--", label=name)
            continue
        ks = sorted(by_k)
        intervals = [interval(by_k[k]) for k in ks]
        ax.errorbar(
            ks,
            [mean for mean, _, _ in intervals],
            yerr=error_bars(intervals),
            markersize=3,
            capsize=2,
            label=name,
            **colours[name],
        )
    log2_axis(ax, [block_size(m) or 2 for m in groups])


def fig_accuracy_vs_k(res: Results):
    data = res.load(DIGITS, ZOO["digits"])
    sizes = [s for s in ("digits", "matched_digits") if any(size_of(r["model"]) == s for r in data["runs"])]
    if not sizes:
        raise Missing(f"results/{DIGITS} holds no digits or matched_digits models", ZOO["digits"])
    colours = palette(family(r["model"]) for r in data["runs"])
    fig, axes = plt.subplots(1, len(sizes), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes):
        accuracy_panel(ax, models_of(data, size), colours)
        ax.set(title=size.replace("_", " "), xlabel="block size k")
    axes[0][0].set_ylabel("test accuracy (%)")
    legend_below(fig, axes)
    caption = (
        "Digits test accuracy against block size, per family: mean over the runs of a family and $k$, error "
        "bars the 95\\% interval over those runs (the seed's three $3\\times3$ Givens planes pooled: one "
        "model up to a permutation); dashed: no rotation, a learned absolute embedding. " + source(data, DIGITS)
    )
    return fig, caption


def fig_curves(res: Results):
    data = res.load(DIGITS, ZOO["digits"])
    sizes = {size_of(r["model"]) for r in data["runs"]}
    size = "matched_digits" if "matched_digits" in sizes else "digits"
    groups = models_of(data, size)
    chosen: dict[str, str] = {}  # family -> its model with the best mean validation accuracy
    for model in sorted(groups, key=lambda m: -statistics.mean(r["val_acc"] for r in groups[m])):
        chosen.setdefault(family(model), model)
    fig, ax = plt.subplots()
    styles = palette(chosen.values())
    for model in chosen.values():
        curve: dict[int, list[float]] = {}
        for history in filter(None, map(res.history, groups[model])):
            for epoch in history:
                curve.setdefault(epoch["epoch"], []).append(100 * epoch["val_acc"])
        if curve:
            means = [statistics.mean(curve[e]) for e in sorted(curve)]
            ax.plot(sorted(curve), means, markersize=2, markevery=5, label=short_name(model), **styles[model])
    if not ax.lines:
        plt.close(fig)
        raise Missing(f"no per-run file {shown(res.root)}/<dataset>/<run_id>.json of the zoo's runs", ZOO["digits"])
    ax.set(xlabel="epoch", ylabel="validation accuracy (%)")
    ax.legend(fontsize=7)
    caption = (
        f"Validation accuracy per epoch, mean over seeds, of each family's best {tex(size.replace('_', ' '))} "
        "model (by validation accuracy). " + source(data, DIGITS)
    )
    return fig, caption


def fig_liere(res: Results):
    data = res.load(THEOREMS, PROVE)
    rows = next((t["table"] for t in data["theorems"] if t["id"] == "T9"), None)
    if not rows:
        raise Missing(f"results/{THEOREMS} holds no T9 table", PROVE)
    fig, ax = plt.subplots()
    for k in dict.fromkeys(r["k"] for r in rows):
        mine = [r for r in rows if r["k"] == k]
        (line,) = ax.plot(
            [r["offset_cells"] for r in mine],
            [r["mean_error"] for r in mine],
            marker="o",
            markersize=3,
            label=f"k = {k}",
        )
        ax.plot(
            [r["offset_cells"] for r in mine], [r["max_error"] for r in mine], linestyle=":", color=line.get_color()
        )
    log2_axis(ax, [r["offset_cells"] for r in rows])
    ax.set(xlabel="offset (grid cells)", ylabel="relative error")
    ax.legend(fontsize=7)
    caption = (
        "LieRE at its initialisation: relative error $\\max|R(x)^\\top R(y) - R(y-x)|$ against the offset "
        "$y - x$ on a $32\\times32$ grid in $[0,1]$ coordinates, mean (solid) and maximum (dotted) over "
        "random initialisations and pairs (theorem T9; $k = 2$ is round-off). " + source(data, THEOREMS)
    )
    return fig, caption


def fig_cost(res: Results):
    benches = res.benches("encodings")
    shapes = list(dict.fromkeys(shape for d in benches.values() for shape in d["shapes"]))
    colours = palette(r["label"] for d in benches.values() for r in d["rows"])
    fig, axes = plt.subplots(len(benches), len(shapes), squeeze=False, sharey=True, figsize=(6.4, 2.6 * len(benches)))
    for axes_row, (tag, data) in zip(axes, benches.items()):
        for ax, shape in zip(axes_row, shapes):
            rows = [r for r in data["rows"] if r["shape"] == shape]
            for design in dict.fromkeys(r["label"] for r in rows):
                ratios = sorted((r["k"], r["time_ratio"]) for r in rows if r["label"] == design)
                ax.plot(*zip(*ratios), markersize=3, label=design, **colours[design])
            ax.set(yscale="log", xlabel="block size k", title=f"{tag}, {shape}")
            log2_axis(ax, [r["k"] for r in rows])
        axes_row[0].set_ylabel("time / axial 2x2")
    legend_below(fig, axes)
    caption = (
        "Time of rotating $q$ and $k$ (forward and backward) against block size, as a multiple of axial "
        "$2\\times2$ RoPE in the same run; one row per device. "
        + " ".join(source(d, f"bench/{tag}-encodings.json") for tag, d in benches.items())
    )
    return fig, caption


# P3 measured: per probe size, its panel's title and the tests it shows, {summary's test name: tick label}.
TRANSFER_PANELS = {
    "probe_quadrant": (
        "background kept",
        {"test": "in\ndistribution", "held-out quadrant": "held-out\nquadrant", "moved to a trained quadrant": "moved"},
    ),
    "probe_quadrant_content": (
        "content tokens only",
        {"test": "in\ndistribution", "held-out quadrant": "held-out\nquadrant", "moved to a trained quadrant": "moved"},
    ),
    "probe_extrapolate_content": (
        "content tokens only",
        {"test": "8x8", "16x16 grid, marks in 8x8": "16x16\nwindowed", "16x16 grid": "16x16\ngrid"},
    ),
}


def fig_transfer(res: Results):
    """P3 measured: each design's accuracy in distribution and moved (held-out quadrant against the same images
    moved to a trained one, with and without the background) or on a larger grid (with its marks in an 8x8
    window, or spread over it), one panel per size."""
    data = probe_summary(res)
    sizes = [s for s in TRANSFER_PANELS if s in sizes_of(data)]
    if not sizes:
        raise Missing(f"results/{PROBES} holds none of the sizes {', '.join(TRANSFER_PANELS)}", ZOO["probes"])
    styles = palette(variant(r["model"]) for r in data["runs"] if size_of(r["model"]) in sizes)
    fig, axes = plt.subplots(1, len(sizes), sharey=True, squeeze=False, figsize=(6.4, 2.3))
    for ax, size in zip(axes[0], sizes):
        title, ticks = TRANSFER_PANELS[size]
        groups = {variant(m): runs for m, runs in probe_models(data, size).items()}
        tests = [t for t in ticks if t == "test" or t in extra_tests(probe_models(data, size))]
        for i, (v, runs) in enumerate(groups.items()):
            intervals = [interval(scores(runs, t), cut=True) for t in tests]
            ax.errorbar(
                [j + 0.06 * (i - (len(groups) - 1) / 2) for j in range(len(tests))],
                [mean for mean, _, _ in intervals],
                yerr=error_bars(intervals),
                markersize=3,
                capsize=1.5,
                linewidth=1,
                label=v.replace("_", " "),
                **styles[v],
            )
        ax.set_xticks(range(len(tests)), labels=[ticks[t] for t in tests], fontsize=7)
        ax.set_xlim(-0.5, len(tests) - 0.5)
        ax.set_title(f"{size.removeprefix('probe_').split('_')[0]}, {title}", fontsize=8)
    axes[0][0].set_ylabel("accuracy (%)")
    legend_below(fig, axes)
    seeds = seed_count(r for s in sizes for runs in probe_models(data, s).values() for r in runs)
    caption = (
        "Prediction P3 measured: accuracy of each design on the translation task in distribution, in the held-out "
        f"quadrant and with the same images moved to a trained quadrant, with the background kept "
        f"({code('probe_quadrant')}) and on content tokens only ({code('probe_quadrant_content')}); and on the "
        f"extrapolation task ({code('probe_extrapolate_content')}) on the $8\\times8$ training grid, on "
        "$16\\times16$ grids whose marks lie in an $8\\times8$ window (windowed: no offset unseen in training) "
        "and on $16\\times16$ grids with the marks anywhere. Mean and 95\\% interval over "
        f"{seeds} seeds, cut to 0--100; every number is in the appendix's tables of these sizes. "
        + source(data, PROBES)
    )
    return fig, caption


FIGURES = {
    "accuracy_vs_k": fig_accuracy_vs_k,
    "curves": fig_curves,
    "liere": fig_liere,
    "cost": fig_cost,
    "transfer": fig_transfer,
}
