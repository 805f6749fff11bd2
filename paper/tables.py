"""The paper's tables: each function returns the TeX of one generated file, or raises Missing."""

from __future__ import annotations

import functools
import re

from paper.cifar import cifar_table
from paper.results import FASHION, PROBES, PROVE, SUMMARIES, THEOREMS, ZOO, Missing, Results
from paper.runs import (
    EQUIVALENCE_WORDS,
    design,
    epochs,
    extra_tests,
    group_seed_count,
    learning_rate,
    models_of,
    pooling,
    prediction,
    probe_models,
    probe_summary,
    scores,
    short_name,
    size_group,
    sizes_of,
)
from paper.tex import (
    acc_ci,
    acc_pm,
    bound_value,
    code,
    difference,
    points,
    points_words,
    row,
    sci,
    short_commit,
    source,
    stacked,
    table,
    tex,
    yes_no,
)
from records.stats import LEVEL, bonferroni_family

COST_KS = (2, 4, 8)  # the block sizes every k x k family, LieRE included, is trained at
DIAGONAL_PAIR = "diagonal pair"  # the head-level fit's target with T11's floor (training/head_fit.py's TARGETS)


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


def first_sentence(text: str) -> str:
    """A prediction's statement in short: its first sentence."""
    return re.split(r"(?<=\.)\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]


def claim_text(claim: str) -> str:
    """A claim of the summary in TeX, its variant names as the tables write them ('mixed rope 2D 2x2')."""
    return tex(claim.replace("_", " ")).replace(" - ", " $-$ ")


def head_checks(fit: dict) -> list[list[str]]:
    """P2's head-level checks as rows of the predictions table: the control (every head reaches a product target),
    the axial heads' smallest KL on the diagonal pair at or above the floor, the mixed heads' largest below it."""
    floor = sci(fit["floor"])
    bounds = {"axial": "$\\ge$ " + floor, "mixed": "$<$ " + floor}
    return [
        [
            r"\raggedright " + tex(c["claim"]),
            str(c["heads"]),
            bound_value(c["smallest" if c["name"] == "axial" else "largest"]),
            bounds.get(c["name"]) or "$<$ " + sci(c["bound"]),
            tex(c["verdict"]),
        ]
        for c in fit["checks"]
    ]


def predictions_table(res: Results) -> str:
    """The probe suite's three predictions, compact: each statement in short with its verdict, then its exact
    checks (the bounds over every run, P2's head-level checks) with their runs, largest value, bound and verdict."""
    data = probe_summary(res)
    body = []
    for pid, p in data["predictions"].items():
        body.append(
            [
                f"\\multicolumn{{5}}{{@{{}}p{{\\linewidth}}@{{}}}}{{\\textbf{{{tex(pid)}}}, "
                f"\\emph{{{tex(p['verdict'])}}}: {tex(first_sentence(p['statement']))}}}"
            ]
        )
        body += [
            [
                r"\raggedright " + tex(b["claim"]),
                str(b["runs"]),
                bound_value(b["largest"]),
                f"$\\le$ {sci(b['tol'])}",
                tex(b["verdict"]),
            ]
            for b in p["bounds"]
        ]
        body += head_checks(p["head_fit"]) if "head_fit" in p else []
    caption = (
        f"The probe suite's predictions ({code(design(data)['file'])}, fixed at commit "
        f"{tex(short_commit(design(data)['commit']))}) and their exact checks: $n$, the runs checked (P1: every "
        "run of a relative design, its export to $2\\times2$ RoPE; P3: every run of a relative design on content "
        "tokens only, the paired tests' logits) or the heads fitted (P2); measured, the largest relative logit "
        "difference over them, or the smallest and largest KL divergence (nats) of one head to the diagonal pair "
        "(Table~\\ref{tab:probes-head-fit}). One value beyond its bound refutes a check; a prediction holds "
        "when all its checks hold, and is undecided when one has no run measured. " + source(data, PROBES)
    )
    return table(
        caption,
        "tab:probes-predictions",
        r"p{0.55\linewidth}rrrl",
        [row(["check", "$n$", "measured", "bound", "verdict"])],
        body,
        "footnotesize",
    )


def head_fit_table(res: Results) -> str:
    """P2 where it lives: the lowest KL that one head of each design reaches on each target, and T11's floor."""
    data = probe_summary(res)
    fit = prediction(data, "P2").get("head_fit")
    if fit is None:
        raise Missing(f"results/{PROBES} holds no head-level fit", ZOO["probes"])
    targets = list(dict.fromkeys(t for fits in fit["fits"].values() for kl in fits.values() for t in kl))
    body = [
        [tex(design), tex(v.replace("_", " ")), *(sci(kl[t]) if t in kl else "--" for t in targets)]
        for design, fits in fit["fits"].items()
        for v, kl in fits.items()
    ]
    body.append(
        [r"\multicolumn{2}{l}{floor of an axial head (T11)}"]
        + [sci(fit["floor"]) if t == DIAGONAL_PAIR else "--" for t in targets]
    )
    caption = (
        f"Prediction P2 on one head of width {fit['dim_head']}: the query at the centre of a "
        f"{fit['grid']}$\\times${fit['grid']} grid of keys, with the same content everywhere, fitted to a target "
        "pattern of attention over offsets. KL divergence (nats) from the target: the lowest that Adam reaches "
        f"over {fit['starts']} start{'s' if fit['starts'] != 1 else ''} of {fit['steps']} steps. T11 bounds an "
        "axial head's KL to the diagonal pair $\\{(1,1),(-1,-1)\\}$ below by its row-column mutual "
        f"information, $\\log 2 = {fit['floor']:.3f}$; the other targets are products of a row and a column "
        "pattern, which an axial head can reach. " + source(data, PROBES)
    )
    return table(
        caption,
        "tab:probes-head-fit",
        "ll" + "r" * len(targets),
        [row(["design", "model", *(stacked(tex(t)) for t in targets)])],
        body,
        "footnotesize",
    )


def estimates_table(res: Results) -> str:
    """What the probe suite measures without a verdict: each quantity's mean and interval in points, and seeds."""
    data = probe_summary(res)
    body, level, method = [], LEVEL, "t"
    for pid, p in data["predictions"].items():
        if p.get("estimates"):
            body.append([f"\\multicolumn{{3}}{{@{{}}l}}{{\\textbf{{{tex(pid)}}}}}"])
        for e in p.get("estimates", []):
            body.append([r"\raggedright " + claim_text(e["claim"]), difference(e), str(len(e["seeds"]))])
            level, method = e.get("level", LEVEL), e.get("method", "t")
    if not body:
        raise Missing(f"results/{PROBES} holds no estimate", ZOO["probes"])
    words = "BCa bootstrap" if method == "bootstrap" else "Student-t"
    caption = (
        "What the probe suite measures without a prediction, so without a verdict: a test accuracy, or a "
        "difference A $-$ B of accuracies paired by seed, in points, with its "
        f"{words} interval over seeds at level {100 * level:.4g}\\% "
        f"(Bonferroni: a {points(design(data)['family_level'])}\\% family level over the "
        f"{bonferroni_family(level)} intervals of the suite), cut to the values it can take "
        "(0 to 100 for an accuracy, $-100$ to $100$ for a difference). " + source(data, PROBES)
    )
    return table(
        caption,
        "tab:probes-estimates",
        r"p{0.62\linewidth}rr",
        [row(["quantity", "mean [interval]", "seeds"])],
        body,
        "footnotesize",
    )


PROBE_TASKS = {  # what each task asks and tests, for the captions of its sizes
    "probe_diagonal": "is a distractor on a diagonal through the anchor ($8\\times8$ grid)?",
    "probe_quadrant": "the direction from one glyph to the other, trained with the pair outside the held-out "
    "bottom-right quadrant; tested in distribution, in the held-out quadrant, and with the same images moved by "
    "whole patches to a trained quadrant.",
    "probe_extrapolate": "does a distractor touch the anchor? Trained on $8\\times8$ grids; tested on larger "
    "grids, on $16\\times16$ grids whose marks lie in an $8\\times8$ window, and on the same marks cropped to "
    "$8\\times8$.",
}


def largest(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    return sci(max(values)) if values else "--"


def probe_table(res: Results, data: dict, size: str) -> str:
    """One probe size in full: every model, every test, the largest export and pair errors."""
    groups = probe_models(data, size)
    tests = extra_tests(groups)
    runs = [r for group in groups.values() for r in group]
    errors = ["export_error", *(["pair_error"] if any(r.get("pair_error") is not None for r in runs) else [])]
    body = [
        [
            tex(short_name(model)),
            *(acc_ci(scores(mine, t), cut=True) for t in ["test", *tests]),
            *(largest(mine, key) for key in errors),
        ]
        for model, mine in groups.items()
    ]
    group = size_group(data, size)
    task = group["dataset"]
    caption = (
        f"Probe size {code(size)}, task {code(task)} ({pooling(res, groups)}; {group['epochs']} epochs at "
        f"learning rate {learning_rate(data, group):g}): {PROBE_TASKS.get(task, '')} Accuracy in \\%: mean "
        f"[95\\% interval, cut to 0--100] over {group_seed_count(groups)} seeds, at the epoch of lowest "
        "validation loss. Export error: the largest relative logit difference between a relative design and its "
        "export to $2\\times2$ RoPE"
        + (", pair error: between the paired tests (P3)" if "pair_error" in errors else "")
        + ", over the seeds. "
        + source(data, PROBES)
    )
    header = ["model", "test", *map(tex, tests), *(e.replace("_", " ") for e in errors)]
    return table(
        caption,
        f"tab:{size.replace('_', '-')}",
        "l" + "r" * (len(header) - 1),
        [row(map(stacked, header))],
        body,
        "footnotesize",
        setup=(r"\setlength{\tabcolsep}{3pt}",),
    )


def probe_tables(res: Results) -> str:
    data = probe_summary(res)
    return "\n".join(probe_table(res, data, size) for size in sizes_of(data))


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
    "probes_predictions": predictions_table,
    "probes_head_fit": head_fit_table,
    "probes_estimates": estimates_table,
    "probes_full": probe_tables,
    "cifar": cifar_table,
    # The main text shows the first device's encoding benchmark (the CPU's); the appendix the others'.
    "bench_encodings": functools.partial(bench_tables, kind="encodings", make=encodings_table, devices=slice(1)),
    "bench_encodings_more": functools.partial(
        bench_tables, kind="encodings", make=encodings_table, devices=slice(1, None)
    ),
    "bench_train": functools.partial(bench_tables, kind="train", make=train_table),
}
