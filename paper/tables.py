"""The paper's tables: each function returns the TeX of one generated file, or raises Missing."""

from __future__ import annotations

import functools

from paper.cifar import cifar_table
from paper.results import FASHION, PROBES, PROVE, SUMMARIES, THEOREMS, ZOO, Results
from paper.runs import (
    EQUIVALENCE_WORDS,
    TEST_HEADERS,
    block_size,
    design,
    epochs,
    extra_tests,
    family,
    group_seed_count,
    models_of,
    pooling,
    prediction,
    probe_models,
    scores,
    seed_count,
    short_name,
    sizes_of,
    transfer_sizes,
    variant,
)
from paper.tex import (
    acc_ci,
    acc_pm,
    code,
    difference,
    points,
    points_words,
    row,
    sci,
    source,
    stacked,
    table,
    tex,
    yes_no,
)
from records.stats import LEVEL, bonferroni_family

COST_KS = (2, 4, 8)  # the block sizes every k x k family, LieRE included, is trained at
PROBE_WHAT = {
    "probe_diagonal": "is a distractor on a diagonal through the anchor?",
    "probe_shift": "the direction from one glyph to the other, trained in the top-left quarter, tested there and "
    "moved into the bottom-right quarter.",
    "probe_extrapolate": "does a distractor touch the anchor? Trained on $8\\times8$ grids, tested on larger ones.",
    "probe_extrapolate_cls": "the same task with a class token instead of mean pooling.",
}


def method_kinds(method: str) -> str:
    """'exact: ...; numeric: ...' -> 'exact; numeric'."""
    return "; ".join(part.split(":")[0] for part in method.split("; ") if ":" in part)


def math_text(text: str) -> str:
    """A certificate's plain-text statement in TeX, its transposes ("R(x)^T") set as superscripts."""
    return tex(text).replace(r"\textasciicircum{}T", r"$^{\top}$")


def theorems_table(res: Results) -> str:
    data = res.load(THEOREMS, PROVE)
    # \raggedright: justified text in a narrow column stretches and hyphenates badly.
    body = [
        [
            tex(t["id"]),
            r"\raggedright " + math_text(t["statement"]),
            r"\raggedright " + tex(method_kinds(t["method"])),
            "proved" if t["verdict"] else "not proved",
            sci(t["residual"]),
        ]
        for t in data["theorems"]
    ]
    caption = (
        "The statements proved by \\texttt{theory/}. Residual: the largest deviation over a theorem's checks "
        "(an exact check that holds counts 0). " + source(data, THEOREMS)
    )
    return table(
        caption,
        "tab:theorems",
        r"l p{0.45\linewidth} p{0.17\linewidth} l r",
        [row(["", "statement", "method", "verdict", "residual"])],
        body,
    )


def accuracy_table(
    res: Results,
    size: str,
    label: str,
    what: str,
    compare: bool = False,
    suite: str = "digits",
    extras: bool = True,
    decimals: int = 1,
) -> str:
    """A zoo size: test accuracy per model (and its extra tests); with `compare` also the paired difference to
    the reference and its verdict."""
    name = SUMMARIES[suite]
    data = res.load(name, ZOO[suite])
    groups = models_of(data, size, name, suite)
    tests = extra_tests(groups) if extras else []
    eq = data.get("equivalence") if compare else None
    against = {c["a"][0]: c for c in eq["comparisons"]} if eq else {}
    body = []
    for model, runs in groups.items():
        cells = [tex(short_name(model)), *(acc_ci(scores(runs, t), decimals) for t in ["test", *tests])]
        if eq:
            c = against.get(model)
            cells += (
                ["reference", ""]
                if model == eq["reference"]
                else ["--", "--"]
                if c is None
                else [difference(c, decimals), EQUIVALENCE_WORDS[c["verdict"]]]
            )
        body.append(cells + [f"{runs[0]['parameters']:,}", yes_no(runs[0]["relative_by_theory"])])
    caption = (
        f"{what} Test accuracy in \\%: mean [95\\% interval] over {group_seed_count(groups)} seeds, at the "
        f"epoch of best validation accuracy ({epochs(data)} epochs)."
    )
    if eq:
        caption += (
            f" Difference: to {tex(short_name(eq['reference']))}, paired by seed, in points, with its "
            f"{interval_words(eq['comparisons'])}; equivalent when the interval lies within "
            f"$\\pm${points_words(eq['margin'])}, differs when it lies wholly outside, undecided otherwise "
            "(margin fixed before the runs)."
        )
    elif compare:
        caption += (
            f" The paired comparison with RoPE-Mixed is not in this summary (written before it); "
            f"{code(ZOO[suite])} adds it."
        )
    caption += " Relative: the theory's verdict. " + source(data, name)
    header = ["model", "test", *map(tex, tests), *(["difference", "verdict"] if eq else []), "params", "relative"]
    align = "l" + "r" * (1 + len(tests)) + ("rl" if eq else "") + "rc"
    return table(caption, label, align, [row(map(stacked, header))], body, "footnotesize")


def interval_words(comparisons: list[dict]) -> str:
    """'95\\% interval over seeds', or the corrected level and the correction when a suite makes one."""
    level = comparisons[0].get("level", LEVEL) if comparisons else LEVEL
    if level == LEVEL:
        return f"{points(level)}\\% interval over seeds"
    return (
        f"{points(level)}\\% interval over seeds (Bonferroni: a 95\\% family level over the "
        f"{bonferroni_family(level)} comparisons of the design)"
    )


def fashion_extra_table(res: Results) -> str:
    """The Fashion-MNIST models on the resolution and translation tests, side by side with the test split."""
    data = res.load(FASHION, ZOO["fashion"])
    groups = models_of(data, "fashion", FASHION, "fashion")
    tests = extra_tests(groups)
    body = [
        [tex(short_name(model)), yes_no(runs[0]["relative_by_theory"])]
        + [acc_pm(scores(runs, t)) for t in ["test", *tests]]
        for model, runs in groups.items()
    ]
    caption = (
        "Fashion-MNIST models on the resolution and translation tests: accuracy in \\%, mean $\\pm$ the "
        f"half-width of the 95\\% interval over {group_seed_count(groups)} seeds (not a standard deviation). "
        "Test: the whole test split at $28\\times28$; $n\\times n$: the first "
        f"{design(data)['extra_images']:,} test images resized, with positions on the integer grid or rescaled to the "
        "training grid's extent; canvas: the same images on a $44\\times44$ canvas, centred or in a corner "
        "(moved by whole patches). Rel.: relative by the theory. " + source(data, FASHION)
    )
    header = ["model", "rel.", "test", *map(tex, tests)]
    return table(
        caption,
        "tab:fashion-extra",
        "lc" + "r" * (1 + len(tests)),
        [row(map(stacked, header))],
        body,
        "footnotesize",
        setup=(r"\setlength{\tabcolsep}{3pt}",),
    )


def probe_table(res: Results, size: str, what: str) -> str:
    """One probe size in full: every model, every test, parameters, the theory's and the measured verdict."""
    data = res.load(PROBES, ZOO["probes"])
    groups = probe_models(data, size)
    tests = extra_tests(groups)
    body = []
    for model, runs in groups.items():
        errors = [r["relative_error"] for r in runs if r["relative_error"] is not None]
        body.append(
            [
                tex(short_name(model)),
                *(acc_ci(scores(runs, t)) for t in ["test", *tests]),
                f"{runs[0]['parameters']:,}",
                yes_no(runs[0]["relative_by_theory"]),
                sci(max(errors)) if errors else "--",
            ]
        )
    task = runs[0]["dataset"]
    named = code(task) + ("" if size == task else f", model size {code(size)}")
    caption = (
        f"Probe task {named} ({pooling(res, groups)}; {epochs(data, task)} epochs): "
        f"{what} Accuracy in \\%: mean [95\\% interval] over "
        f"{group_seed_count(groups)} seeds. Rel.: relative by the theory; "
        "error: the largest measured $|R(x)\\T R(y)-R(y-x)|$ of the trained encodings. " + source(data, PROBES)
    )
    header = ["model", "test", *map(tex, tests), "params", "rel.", "error"]
    return table(
        caption,
        f"tab:{size.replace('_', '-')}",
        "l" + "r" * (2 + len(tests)) + "cr",
        [row(map(stacked, header))],
        body,
        "footnotesize",
    )


def probe_tables(res: Results) -> str:
    data = res.load(PROBES, ZOO["probes"])
    return "\n".join(probe_table(res, size, PROBE_WHAT.get(size, "")) for size in sizes_of(data))


def diagonal_table(res: Results) -> str:
    """The diagonal task (P1, P2), compact: design, block size and test accuracy per model."""
    data = res.load(PROBES, ZOO["probes"])
    groups = probe_models(data, "probe_diagonal")
    body = [
        [
            tex(short_name(model)),
            tex(family(model)),
            str(block_size(model) or "--"),
            acc_ci(r["test_acc"] for r in runs),
        ]
        for model, runs in groups.items()
    ]
    caption = (
        f"The diagonal task ({pooling(res, groups)}): test accuracy in \\%, mean [95\\% interval] over "
        f"{group_seed_count(groups)} seeds. " + source(data, PROBES)
    )
    return table(caption, "tab:diagonal", "lllr", [row(["model", "family", "$k$", "test"])], body, "footnotesize")


def transfer_table(res: Results) -> str:
    """P3's tasks side by side, compact: one row per encoding, in-distribution and moved or larger tests."""
    data = res.load(PROBES, ZOO["probes"])
    sizes = transfer_sizes(data)
    by_size = {size: {variant(m): runs for m, runs in probe_models(data, size).items()} for size in sizes}
    columns = [(size, t) for size in sizes for t in ["test", *extra_tests(by_size[size])]]
    body = []
    for v in dict.fromkeys(v for runs in by_size.values() for v in runs):
        first = next(runs for runs in (by_size[s].get(v) for s in sizes) if runs)
        cells = [tex(v.replace("_", " ")), yes_no(first[0]["relative_by_theory"])]
        for size, t in columns:
            runs = by_size[size].get(v)
            cells.append("--" if not runs else acc_pm(scores(runs, t)))
        body.append(cells)
    spans = [sum(s == size for s, _ in columns) for size in sizes]
    starts = [3 + sum(spans[:i]) for i in range(len(sizes))]
    head = [
        row(["", ""] + [f"\\multicolumn{{{n}}}{{c}}{{{code(size)}}}" for size, n in zip(sizes, spans)]),
        " ".join(f"\\cmidrule(lr){{{a}-{a + n - 1}}}" for a, n in zip(starts, spans)),
        row(["model", "rel."] + [stacked(tex(TEST_HEADERS.get(t, t.removesuffix(" grid")))) for _, t in columns]),
    ]
    caption = (
        "Prediction P3's tasks: accuracy in \\%, mean $\\pm$ the half-width of the 95\\% interval over "
        f"{seed_count(data['runs'])} seeds (not a standard deviation); test: in distribution; rel.: relative "
        "by the theory. " + source(data, PROBES)
    )
    return table(
        caption,
        "tab:transfer",
        f"lc{'r' * len(columns)}",
        head,
        body,
        "footnotesize",
        setup=(r"\setlength{\tabcolsep}{2pt}",),
    )


def prediction_table(res: Results, pid: str) -> str:
    """A prediction's comparisons: claim, A - B with its interval, kind, margin, seeds, verdict."""
    data = res.load(PROBES, ZOO["probes"])
    p = prediction(data, pid)
    body = [
        [
            r"\raggedright " + tex(c["claim"]),
            difference(c),
            tex(c["kind"]),
            points(c["margin"]),
            str(len(c["seeds"])),
            tex(c["verdict"]),
        ]
        for c in p["comparisons"]
    ]
    caption = (
        f"Prediction {pid}, verdict \\emph{{{tex(p['verdict'])}}}. A $-$ B in points, paired by seed, with "
        "its 95\\% interval. " + source(data, PROBES)
    )
    return table(
        caption,
        f"tab:{pid.lower()}",
        r"p{0.40\linewidth}rlrrl",
        [row(["claim", "A $-$ B", "kind", "margin", "seeds", "verdict"])],
        body,
        "footnotesize",
    )


def bench_tables(res: Results, kind: str, make, devices: slice = slice(None)) -> str:
    """One table per device that ran the benchmark, the CPU first; `devices` picks some of them."""
    benches = list(res.benches(kind).items())
    return "\n".join(
        make(data, f"tab:bench-{kind}" + ("" if i == 0 else f"-{tag}"), f"bench/{tag}-{kind}.json")
        for i, (tag, data) in list(enumerate(benches))[devices]
    )


def encodings_table(data: dict, label: str, name: str) -> str:
    cells = {(r["label"], r["shape"], r["k"]): f"{r['time_ratio']:.2f} ({r['memory_ratio']:.2f})" for r in data["rows"]}
    columns = [(shape, k) for shape in data["shapes"] for k in COST_KS]
    head = [
        row(
            [""]
            + [
                f"\\multicolumn{{{len(COST_KS)}}}{{c}}{{{tex(shape)}: {'x'.join(map(str, dims))}}}"
                for shape, dims in data["shapes"].items()
            ]
        ),
        " ".join(
            f"\\cmidrule(lr){{{2 + i * len(COST_KS)}-{1 + (i + 1) * len(COST_KS)}}}" for i in range(len(data["shapes"]))
        ),
        row(["design"] + [f"$k={k}$" for _, k in columns]),
    ]
    body = [
        [tex(design)] + [cells.get((design, *column), "--") for column in columns]
        for design in dict.fromkeys(r["label"] for r in data["rows"])
    ]
    caption = (
        f"Forward and backward time (memory) of rotating $q$ and $k$, as multiples of axial $2\\times2$ RoPE "
        f"in the same run, on {tex(data['device'])}, shapes $B\\times H\\times N\\times D$. "
        "\\texttt{comrope-exp} and \\texttt{liere-exp} compute the commuting rotation the anchors' way "
        "(a matrix exponential per token, dense or block-wise); \\texttt{commuting/logits} skips the map "
        "back out of the plane basis, as the ViT does. " + source(data, name)
    )
    return table(caption, label, "l" + "r" * len(columns), head, body)


def train_table(data: dict, label: str, name: str) -> str:
    no_mfu = all(r["mfu"] is None for r in data["rows"])  # a CPU has no peak to compare with: no column
    body = [
        [
            tex(short_name(r["model"])),
            f"{r['params']:,}",
            f"{r['seconds_per_step']:.3f}",
            f"{r['images_per_second']:.1f}",
            f"{r['memory_bytes'] / 2**20:.0f}",
            f"{r['flops_per_image'] / 1e9:.2f}",
            *([] if no_mfu else [f"{100 * r['mfu']:.1f}"]),
            tex(", ".join(k.removeprefix("aten::_scaled_dot_product_") for k in r["sdpa_kernels"])),
        ]
        for r in data["rows"]
    ]
    projected = ", ".join(
        f"{tex(mode)} {seconds / 86400:.1f} days" for mode, seconds in data["projected_seed_comparison_seconds"].items()
    )
    batches = ", ".join(sorted({str(r["batch"]) for r in data["rows"]}))
    caption = (
        f"Training steps of the seed's models on {tex(data['device'])}, batch {batches}"
        + ("" if no_mfu else "; MFU in \\%")
        + ". Projected "
        f"time of the seed's comparison ({tex(data['seed_comparison'])}) on this device: {projected}. "
        + source(data, name)
    )
    header = ["model", "params", "s/step", "images/s", "MiB", "GFLOP/image", *([] if no_mfu else ["MFU"])]
    header.append("attention")
    return table(caption, label, "l" + "r" * (len(header) - 2) + "l", [row(map(stacked, header))], body)


TABLES = {  # generated file -> its maker
    "theorems": theorems_table,
    "digits": functools.partial(
        accuracy_table,
        size="digits",
        label="tab:digits",
        what="ViTs at digits size (the seed's rows; width grows with $k$ as in the seed).",
    ),
    "digits_matched": functools.partial(
        accuracy_table,
        size="matched_digits",
        label="tab:digits-matched",
        what="ViTs of one width and depth for every encoding.",
        compare=True,
    ),
    "fashion": functools.partial(
        accuracy_table,
        size="fashion",
        label="tab:fashion",
        what="ViTs on Fashion-MNIST, one width and depth for every encoding.",
        compare=True,
        suite="fashion",
        extras=False,
        decimals=2,
    ),
    "fashion_extra": fashion_extra_table,
    "probes_diagonal": diagonal_table,
    "probes_transfer": transfer_table,
    **{f"probes_{pid.lower()}": functools.partial(prediction_table, pid=pid) for pid in ("P1", "P2", "P3")},
    "probes_full": probe_tables,
    "cifar": cifar_table,
    # The main text shows the first device's encoding benchmark (the CPU's); the appendix the others'.
    "bench_encodings": functools.partial(bench_tables, kind="encodings", make=encodings_table, devices=slice(1)),
    "bench_encodings_more": functools.partial(
        bench_tables, kind="encodings", make=encodings_table, devices=slice(1, None)
    ),
    "bench_train": functools.partial(bench_tables, kind="train", make=train_table),
}
