"""The paper's tables and figures, generated from the result files, and its PDF.

    rope-blocks paper                          # results/ -> paper/generated/, paper/build/rope-blocks.pdf
    rope-blocks paper --no-pdf                 # only the generated files
    rope-blocks paper --results DIR --out DIR  # another results folder; the paper built under DIR

With --out DIR other than paper/, main.tex and references.bib are copied from paper/ into DIR
(those two files are overwritten, nothing else), and generated/ and build/ go under DIR: paper/
stays as it is.

Every number in the paper comes from a file under results/, or, for the seed study's cited CIFAR10
accuracies, from paper/seed_cifar10.json. A table or figure whose file is missing becomes a
sentence naming the file and the command that makes it, so the paper builds at every stage.
Accuracies are given as the mean and the 95% Student-t interval over seeds (training/stats.py).
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
LATEX_INSTALL = ("apt-get update && apt-get install -y --no-install-recommends "
                 "texlive-latex-base texlive-latex-recommended latexmk poppler-utils")
PAPER = HERE  # the folder of main.tex and references.bib, copied into any other --out
SOURCES = ("main.tex", "references.bib")
PROVE = "rope-blocks prove"
ZOO = {suite: f"rope-blocks zoo --suite {suite}" for suite in ("digits", "probes")}
BENCH = "make bench"
DIGITS = "digits/summary.json"
PROBES = "probes/summary.json"
DIGIT_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
COST_KS = (2, 4, 8)  # the block sizes every k x k family, LieRE included, is trained at
# TrueType fonts: journals and arXiv reject the Type 3 fonts matplotlib embeds by default.
plt.rcParams.update({"pdf.fonttype": 42, "font.size": 8, "figure.figsize": (6.4, 2.8)})


class Missing(Exception):
    """A result a table or figure needs is absent; `paragraph` says so in the paper instead."""

    def __init__(self, what: str, command: str):
        super().__init__(what)
        self.paragraph = f"Not yet run: {tex(what)}; run {code(command)}.\n"


class Results:
    """The results folder; remembers every missing file and the command that makes it."""

    def __init__(self, root: Path):
        self.root = root
        self.missing: dict[str, str] = {}
        self.loaded: dict[str, dict] = {}  # several tables and figures read the same file

    def load(self, name: str, command: str) -> dict:
        path = self.root / name
        if not path.is_file():
            self.missing[shown(path)] = command
            raise Missing(f"{shown(path)} is missing", command)
        if name not in self.loaded:
            self.loaded[name] = json.loads(path.read_text())
        return self.loaded[name]

    def benches(self, kind: str) -> dict[str, dict]:
        """Every device's benchmark of one kind, {device tag: result}, the CPU first."""
        paths = sorted(self.root.glob(f"bench/*-{kind}.json"), key=lambda p: (not p.name.startswith("cpu-"), p.name))
        if not paths:
            self.load(f"bench/cpu-{kind}.json", BENCH)
        return {p.name.removesuffix(f"-{kind}.json"): json.loads(p.read_text()) for p in paths}

    def history(self, run: dict) -> list[dict] | None:
        """A zoo run's per-epoch record, from its per-run file under results/<dataset>/."""
        path = next(self.root.glob(f"*/{run['run_id']}.json"), None)
        return json.loads(path.read_text())["history"] if path else None


# ---------------------------------------------------------------------------------------------
# Formatting


TEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
                ">": r"\textgreater{}", "|": r"\textbar{}"}


def tex(text) -> str:
    return "".join(TEX_SPECIALS.get(c, c) for c in str(text))


def code(text) -> str:
    # "-{}" keeps "--" from becoming an en dash in fonts that have the ligature.
    return f"\\texttt{{{tex(text).replace('-', '-{}')}}}"


def shown(path: Path) -> str:
    """A path as the reader knows it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def short_commit(commit: str) -> str:
    head, _, note = commit.partition(" ")
    return f"{head[:7]} {note}".strip()


def source(data: dict, name: str) -> str:
    """Where a table's numbers come from: file, command, commit and date."""
    return (f"From {code('results/' + name)}, written by {code(data['command'])} "
            f"at commit {tex(short_commit(data['commit']))} on {data['date'][:10]}.")


@functools.cache
def stats():
    # The zoo's own statistics (training/stats.py), so that the paper's intervals are the zoo's.
    from training import stats

    return stats


def interval(values) -> tuple[float, float, float]:
    """Accuracies in percent: (mean, low, high) of the 95% interval over seeds; nan bounds for one seed."""
    return tuple(100 * x for x in stats().mean_ci(list(values)))


def acc_ci(values) -> str:
    """'mean [low, high]' in percent (the bare mean for one seed)."""
    mean, low, high = interval(values)
    return f"{mean:.1f}" if math.isnan(low) else f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def acc_pm(values) -> str:
    """Compact: the mean and the half-width of the (symmetric Student-t) 95% interval, in percent."""
    mean, low, high = interval(values)
    return f"{mean:.1f}" if math.isnan(low) else f"{mean:.1f}{{\\scriptsize$\\pm${(high - low) / 2:.1f}}}"


def signed(points: float) -> str:
    text = f"{points:+.1f}"
    return "$0.0$" if float(text) == 0 else f"${text}$"


def no_interval(ci) -> bool:
    return ci is None or any(x is None or math.isnan(x) for x in ci)


def difference(c: dict) -> str:
    """A paired comparison's A - B in accuracy points, with its 95% interval."""
    if c["difference"] is None:
        return "--"
    d = signed(100 * c["difference"])
    return d if no_interval(c["ci"]) else f"{d} [{signed(100 * c['ci'][0])}, {signed(100 * c['ci'][1])}]"


def points(fraction: float) -> str:
    return f"{100 * fraction:g}"


def macro_id(text: str) -> str:
    """'P1' -> 'POne': TeX macro names hold no digits."""
    return "".join(DIGIT_WORDS[int(c)] if c.isdigit() else c for c in text)


def sci(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e3:
        return f"{x:.3g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"${mantissa}\\cdot 10^{{{int(exponent)}}}$"


def yes_no(flag: bool | None) -> str:
    return {True: "yes", False: "no", None: "--"}[flag]


def stacked(text: str) -> str:
    """A long header on two lines, so that a column of short numbers stays narrow."""
    words = text.split()
    if len(text) <= 12 or len(words) == 1:
        return text
    cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
    return f"\\begin{{tabular}}[b]{{@{{}}c@{{}}}}{' '.join(words[:cut])}\\\\ {' '.join(words[cut:])}\\end{{tabular}}"


def row(cells) -> str:
    return " & ".join(cells) + r" \\"


def table(caption: str, label: str, align: str, head: list[str], body: list[list[str]], size: str = "small") -> str:
    """A booktabs float; `head` holds finished header lines, `body` the cells of each row."""
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", f"\\{size}", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{{align}}}", r"\toprule", *head, r"\midrule", *map(row, body),
        r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def figure(fig, caption: str, pdf: Path) -> str:
    # No creation date: an unchanged figure stays byte-identical in git.
    fig.savefig(pdf, metadata={"CreationDate": None}, bbox_inches="tight")
    plt.close(fig)
    name = pdf.stem.removeprefix("fig_")
    return "\n".join([
        r"\begin{figure}[htbp]", r"\centering", f"\\includegraphics[width=\\linewidth]{{generated/{pdf.name}}}",
        f"\\caption{{{caption}}}", f"\\label{{fig:{name}}}", r"\end{figure}", ""])


# ---------------------------------------------------------------------------------------------
# Models of the zoo


@functools.cache
def registry():
    # training imports torch: load it only when a zoo result is there to describe.
    from training import models

    return models


def size_of(model: str) -> str:
    return registry().size_of(model)


def short_name(model: str) -> str:
    return model.removeprefix("vit_").removesuffix(f"_{size_of(model)}").replace("_", " ")


def family(model: str) -> str:
    variant = registry().REGISTRY[model][0]
    design = variant.options.get("design")
    return variant.family + (f" {design}" if design else "") + (" 1D" if variant.n_axes == 1 else "")


def block_size(model: str) -> int | None:
    variant = registry().REGISTRY[model][0]
    return None if variant.family == "none" else variant.block_size


def models_of(data: dict, size: str, name: str = DIGITS, suite: str = "digits") -> dict[str, list[dict]]:
    """The zoo's runs of one model size, {model: runs}, in the zoo's order."""
    groups: dict[str, list[dict]] = {}
    for run in data["runs"]:
        if size_of(run["model"]) == size:
            groups.setdefault(run["model"], []).append(run)
    if not groups:
        raise Missing(f"results/{name} holds no {size} models", ZOO[suite])
    return groups


def sizes_of(data: dict) -> list[str]:
    return list(dict.fromkeys(size_of(r["model"]) for r in data["runs"]))


def seed_count(runs) -> int:
    return len({r["seed"] for r in runs})


def extra_tests(groups: dict[str, list[dict]]) -> list[str]:
    """The extra tests' names (moved, larger grids) of a size's runs, in the zoo's order."""
    # Summaries from before the suites have no extra_acc (their at-chance 16x16 canvas column is dropped).
    return list(dict.fromkeys(t for runs in groups.values() for r in runs for t in r.get("extra_acc", {})))


def epochs(data: dict, dataset: str | None = None) -> str:
    """The epochs of the summary's groups (of one data set), e.g. '30'."""
    if "groups" not in data:  # written before the suites: one setting for every run
        return str(data["epochs"])
    values = [g["epochs"] for g in data["groups"] if dataset in (None, g["dataset"])]
    if not values:
        raise Missing(f"no group of the summary trains on {dataset}", ZOO["probes"])
    return "/".join(map(str, dict.fromkeys(values)))


def equivalence(data: dict) -> dict:
    if not data.get("equivalence"):
        raise Missing(f"results/{DIGITS} holds no equivalence analysis (it predates the suites)", ZOO["digits"])
    return data["equivalence"]


EQUIVALENCE_WORDS = {"holds": "equivalent", "fails": "differs", "undecided": "undecided"}


def pooling(size: str) -> str:
    """'depth 2, 2x2 patches, mean pooling': what sets a probe size apart."""
    s = registry().SIZES[size]
    patches = f"{s.patch_size}$\\times${s.patch_size} patches, " if s.patch_size > 1 else ""
    return f"depth {s.depth}, {patches}" + ("mean pooling" if s.pool == "mean" else "class token")


# ---------------------------------------------------------------------------------------------
# Generated files: each returns the TeX of one file, or raises Missing


def provenance_macros(extra: dict) -> dict:
    return {"Command": lambda d: code(d["command"]), "Commit": lambda d: tex(short_commit(d["commit"])),
            "Date": lambda d: d["date"][:10], **extra}


def run_macros(extra: dict) -> dict:
    return provenance_macros({"Device": lambda d: tex(d["device"]),
                              "WallMinutes": lambda d: f"{d['wall_seconds'] / 60:.0f}",
                              "Runs": lambda d: str(len(d["runs"])), **extra})


def size_field(size: str, count):
    return lambda d: str(count(models_of(d, size)))


def digits_macros() -> dict:
    eq = equivalence
    return run_macros({
        "Epochs": epochs,
        "SizeSeeds": size_field("digits", lambda g: seed_count(r for runs in g.values() for r in runs)),
        "SizeModels": size_field("digits", len),
        "MatchedSeeds": size_field("matched_digits", lambda g: seed_count(r for runs in g.values() for r in runs)),
        "MatchedModels": size_field("matched_digits", len),
        "EquivalenceReference": lambda d: tex(short_name(eq(d)["reference"])),
        "EquivalenceMargin": lambda d: points(eq(d)["margin"]),
        "EquivalenceCompared": lambda d: str(len(eq(d)["comparisons"])),
        **{f"Equivalence{word.capitalize()}": (lambda v: lambda d: str(sum(
            c["verdict"] == v for c in eq(d)["comparisons"])))(verdict)
           for verdict, word in EQUIVALENCE_WORDS.items()}})


def prediction(data: dict, pid: str) -> dict:
    p = data.get("predictions", {}).get(pid)
    if p is None:
        raise Missing(f"results/{PROBES} holds no prediction {pid}", ZOO["probes"])
    return p


def probes_macros() -> dict:
    # Which predictions and comparisons there are is fixed in training/probes.py before the runs, so
    # their macros exist (reading 'not yet run') before the summary does.
    from training import probes

    fields = {"Seeds": lambda d: str(seed_count(d["runs"])),
              "Models": lambda d: str(len({r["model"] for r in d["runs"]})),
              **{f"Epochs{task.removeprefix('probe_').capitalize()}": functools.partial(epochs, dataset=task)
                 for task in probes.TASKS}}
    for pid, (_, comparisons) in probes.PREDICTIONS.items():
        w = macro_id(pid)
        fields[f"Verdict{w}"] = lambda d, pid=pid: prediction(d, pid)["verdict"]
        fields[f"Statement{w}"] = lambda d, pid=pid: tex(prediction(d, pid)["statement"])
        for i in range(len(comparisons)):
            fields[f"{w}Diff{chr(65 + i)}"] = lambda d, pid=pid, i=i: difference(prediction(d, pid)["comparisons"][i])
            fields[f"{w}Verdict{chr(65 + i)}"] = lambda d, pid=pid, i=i: prediction(d, pid)["comparisons"][i]["verdict"]
    return run_macros(fields)


MACROS = {  # results file -> (macro prefix, command that makes it, {macro suffix: value from the file} or its maker)
    "theorems.json": ("Theorems", PROVE, provenance_macros({
        "Seconds": lambda d: f"{d['seconds']:.0f}",
        "True": lambda d: str(sum(t["verdict"] is True for t in d["theorems"])),
        "Total": lambda d: str(len(d["theorems"]))})),
    DIGITS: ("Digits", ZOO["digits"], digits_macros),
    PROBES: ("Probes", ZOO["probes"], probes_macros),
    "bench/cpu-encodings.json": ("Bench", BENCH, provenance_macros({"Device": lambda d: tex(d["device"])})),
}


def head_commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def numbers(res: Results) -> str:
    """The macros the prose uses; those of a missing file (or of a field the file lacks) read 'not yet run'."""
    values = {"PaperCommit": head_commit()}
    for name, (prefix, command, fields) in MACROS.items():
        try:
            data = res.load(name, command)
        except Missing:
            data = None
        for key, field in (fields() if callable(fields) else fields).items():
            try:
                values[prefix + key] = "not yet run" if data is None else field(data)
            except Missing:
                values[prefix + key] = "not yet run"
    return "".join(f"\\newcommand{{\\{key}}}{{{value}}}\n" for key, value in values.items())


def method_kinds(method: str) -> str:
    """'exact: ...; numeric: ...' -> 'exact; numeric'."""
    return "; ".join(part.split(":")[0] for part in method.split("; ") if ":" in part)


def theorems_table(res: Results) -> str:
    data = res.load("theorems.json", PROVE)
    # \raggedright: justified text in a narrow column stretches and hyphenates badly.
    body = [[tex(t["id"]), r"\raggedright " + tex(t["statement"]), r"\raggedright " + tex(method_kinds(t["method"])),
             "proved" if t["verdict"] else "not proved", sci(t["residual"])] for t in data["theorems"]]
    caption = ("The statements proved by \\texttt{theory/}. Residual: the largest deviation over a theorem's checks "
               "(an exact check that holds counts 0). " + source(data, "theorems.json"))
    return table(caption, "tab:theorems", r"l p{0.45\linewidth} p{0.17\linewidth} l r",
                 [row(["", "statement", "method", "verdict", "residual"])], body)


def accuracy_table(res: Results, size: str, label: str, what: str, compare: bool = False) -> str:
    """A digits size: test accuracy per model; at matched width also the paired difference to the reference."""
    data = res.load(DIGITS, ZOO["digits"])
    groups = models_of(data, size)
    tests = extra_tests(groups)
    eq = data.get("equivalence") if compare else None
    against = {c["a"][0]: c for c in eq["comparisons"]} if eq else {}
    body = []
    for model, runs in groups.items():
        cells = [tex(short_name(model)), acc_ci(r["test_acc"] for r in runs),
                 *(acc_ci(r["extra_acc"][t] for r in runs) for t in tests)]
        if eq:
            c = against.get(model)
            cells += (["reference", ""] if model == eq["reference"] else ["--", "--"] if c is None
                      else [difference(c), EQUIVALENCE_WORDS[c["verdict"]]])
        body.append(cells + [f"{runs[0]['parameters']:,}", yes_no(runs[0]["relative_by_theory"])])
    seeds = seed_count(r for runs in groups.values() for r in runs)
    caption = (f"{what} Test accuracy in \\%: mean [95\\% interval] over {seeds} seeds, at the epoch of best "
               f"validation accuracy ({epochs(data)} epochs).")
    if eq:
        caption += (f" Difference: to {tex(short_name(eq['reference']))}, paired by seed, in points; equivalent when "
                    f"its interval lies within $\\pm${points(eq['margin'])} points, differs when it lies wholly "
                    "outside, undecided otherwise (margin fixed before the runs).")
    elif compare:
        caption += (f" The paired comparison with RoPE-Mixed is not in this summary (written before it); "
                    f"{code(ZOO['digits'])} adds it.")
    caption += " Relative: the theory's verdict. " + source(data, DIGITS)
    header = ["model", "test", *map(tex, tests), *(["difference", "verdict"] if eq else []), "params", "relative"]
    align = "l" + "r" * (1 + len(tests)) + ("rl" if eq else "") + "rc"
    return table(caption, label, align, [row(map(stacked, header))], body, "footnotesize")


def probe_table(res: Results, size: str, what: str) -> str:
    """One probe size in full: every model, every test, parameters, the theory's and the measured verdict."""
    data = res.load(PROBES, ZOO["probes"])
    groups = models_of(data, size, PROBES, "probes")
    tests = extra_tests(groups)
    body = []
    for model, runs in groups.items():
        errors = [r["relative_error"] for r in runs if r["relative_error"] is not None]
        body.append([tex(short_name(model)), acc_ci(r["test_acc"] for r in runs),
                     *(acc_ci(r["extra_acc"][t] for r in runs) for t in tests), f"{runs[0]['parameters']:,}",
                     yes_no(runs[0]["relative_by_theory"]), sci(max(errors)) if errors else "--"])
    task = runs[0]["dataset"]
    named = code(task) + ("" if size == task else f", model size {code(size)}")
    caption = (f"Probe task {named} ({pooling(size)}; {epochs(data, task)} epochs): "
               f"{what} Accuracy in \\%: mean [95\\% interval] over "
               f"{seed_count(r for runs in groups.values() for r in runs)} seeds. Rel.: relative by the theory; "
               "error: the largest measured $|R(x)\\T R(y)-R(y-x)|$ of the trained encodings. " + source(data, PROBES))
    header = ["model", "test", *map(tex, tests), "params", "rel.", "error"]
    return table(caption, f"tab:{size.replace('_', '-')}", "l" + "r" * (2 + len(tests)) + "cr",
                 [row(map(stacked, header))], body, "footnotesize")


PROBE_WHAT = {
    "probe_diagonal": "is a distractor on a diagonal through the anchor?",
    "probe_shift": "the direction from one glyph to the other, trained in the top-left quarter, tested there and "
                   "moved into the bottom-right quarter.",
    "probe_extrapolate": "does a distractor touch the anchor? Trained on $8\\times8$ grids, tested on larger ones.",
    "probe_extrapolate_cls": "the same task with a class token instead of mean pooling.",
}


def probe_tables(res: Results) -> str:
    data = res.load(PROBES, ZOO["probes"])
    return "\n".join(probe_table(res, size, PROBE_WHAT.get(size, "")) for size in sizes_of(data))


def diagonal_table(res: Results) -> str:
    """The diagonal task (P1, P2), compact: design, block size and test accuracy per model."""
    data = res.load(PROBES, ZOO["probes"])
    groups = models_of(data, "probe_diagonal", PROBES, "probes")
    body = [[tex(short_name(model)), tex(family(model)), str(block_size(model) or "--"),
             acc_ci(r["test_acc"] for r in runs)] for model, runs in groups.items()]
    caption = (f"The diagonal task ({pooling('probe_diagonal')}): test accuracy in \\%, mean [95\\% interval] over "
               f"{seed_count(r for runs in groups.values() for r in runs)} seeds. " + source(data, PROBES))
    return table(caption, "tab:diagonal", "lllr", [row(["model", "family", "$k$", "test"])], body, "footnotesize")


TEST_HEADERS = {"test": "test", "moved by whole patches": "whole patches", "moved off the patch grid": "off grid"}
TRANSFER_SIZES = ("probe_shift", "probe_extrapolate", "probe_extrapolate_cls")  # the tasks of prediction P3


def variant(model: str) -> str:
    return model.removeprefix("vit_").removesuffix(f"_{size_of(model)}")


def transfer_table(res: Results) -> str:
    """P3's tasks side by side, compact: one row per encoding, in-distribution and moved or larger tests."""
    data = res.load(PROBES, ZOO["probes"])
    sizes = [s for s in TRANSFER_SIZES if s in sizes_of(data)]
    if not sizes:
        raise Missing(f"results/{PROBES} holds none of the sizes {', '.join(TRANSFER_SIZES)}", ZOO["probes"])
    by_size = {size: {variant(m): runs for m, runs in models_of(data, size, PROBES, "probes").items()}
               for size in sizes}
    columns = [(size, t) for size in sizes for t in ["test", *extra_tests(by_size[size])]]
    variants = list(dict.fromkeys(v for runs in by_size.values() for v in runs))
    body = []
    for v in variants:
        first = next(runs for runs in (by_size[s].get(v) for s in sizes) if runs)
        cells = [tex(v.replace("_", " ")), yes_no(first[0]["relative_by_theory"])]
        for size, t in columns:
            runs = by_size[size].get(v)
            scores = None if not runs else [r["test_acc"] if t == "test" else r["extra_acc"][t] for r in runs]
            cells.append("--" if not runs else acc_pm(scores))
        body.append(cells)
    spans = [sum(s == size for s, _ in columns) for size in sizes]
    starts = [3 + sum(spans[:i]) for i in range(len(sizes))]
    head = [row(["", ""] + [f"\\multicolumn{{{n}}}{{c}}{{{code(size)}}}" for size, n in zip(sizes, spans)]),
            " ".join(f"\\cmidrule(lr){{{a}-{a + n - 1}}}" for a, n in zip(starts, spans)),
            row(["model", "rel."] + [stacked(tex(TEST_HEADERS.get(t, t.removesuffix(" grid")))) for _, t in columns])]
    caption = ("Prediction P3's tasks: accuracy in \\%, mean $\\pm$ the half-width of the 95\\% interval over "
               f"{seed_count(data['runs'])} seeds (not a standard deviation); test: in distribution; rel.: relative "
               "by the theory. " + source(data, PROBES))
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{2pt}",
        f"\\caption{{{caption}}}", r"\label{tab:transfer}", f"\\begin{{tabular}}{{lc{'r' * len(columns)}}}",
        r"\toprule", *head, r"\midrule", *map(row, body), r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def prediction_table(res: Results, pid: str) -> str:
    """A prediction's comparisons: claim, A - B with its interval, kind, margin, seeds, verdict."""
    data = res.load(PROBES, ZOO["probes"])
    p = prediction(data, pid)
    body = [[r"\raggedright " + tex(c["claim"]), difference(c), tex(c["kind"]), points(c["margin"]),
             str(len(c["seeds"])), tex(c["verdict"])] for c in p["comparisons"]]
    caption = (f"Prediction {pid}, verdict \\emph{{{tex(p['verdict'])}}}. A $-$ B in points, paired by seed, with "
               "its 95\\% interval. " + source(data, PROBES))
    return table(caption, f"tab:{pid.lower()}", r"p{0.40\linewidth}rlrrl",
                 [row(["claim", "A $-$ B", "kind", "margin", "seeds", "verdict"])], body, "footnotesize")



def cifar_table(res: Results) -> str:
    seed = json.loads((HERE / "seed_cifar10.json").read_text())
    ours: dict[str, list[float]] = {}
    for path in sorted((res.root / "cifar10").glob("*.json")):
        run = json.loads(path.read_text())
        if "best" in run:  # a per-run file, not a summary
            ours.setdefault(run["model"], []).append(run["best"]["test_acc"])
    if not ours:
        res.missing[shown(res.root / "cifar10")] = "the torchrun loop of the README, on GPUs"
    body = [[tex(short_name(model)), f"{100 * acc['best']:.2f} ({100 * acc['final']:.2f})",
             acc_ci(ours[model]) if model in ours else "not yet run"] for model, acc in seed["test_acc"].items()]
    caption = (f"CIFAR10 test accuracy in \\%. Seed study: {tex(seed['about'])} Source: {tex(seed['source'])}. "
               "This project: mean [95\\% interval] over seeds at the epoch of best validation accuracy, from "
               f"{code(shown(res.root / 'cifar10') + '/*.json')}, made by the torchrun loop printed with this table.")
    return table(caption, "tab:cifar", "lrr", [row(["model", "seed study, best (final)", "this project"])],
                 body) + "\n" + cifar_command()


def cifar_command() -> str:
    """The README's torchrun loop, long lines wrapped with shell continuations to fit the page."""
    loop = re.search(r"```sh\n([^`]*torchrun[^`]*)```", (ROOT / "README.md").read_text()).group(1)
    lines = []
    for line in loop.splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        glued = re.sub(r"(--\S+) (?!-)", "\\1\0", line.removesuffix("\\").rstrip())  # an option keeps its value
        pieces = [piece.replace("\0", " ") for piece in textwrap.wrap(
            glued, 72, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)]
        lines += [piece + " \\" for piece in pieces[:-1]] + [pieces[-1] + (" \\" if line.endswith("\\") else "")]
    return "{\\footnotesize\n\\begin{verbatim}\n" + "\n".join(lines) + "\n\\end{verbatim}\n}\n"


def bench_tables(res: Results, kind: str, make, devices: slice = slice(None)) -> str:
    """One table per device that ran the benchmark, the CPU first; `devices` picks some of them."""
    benches = list(res.benches(kind).items())
    return "\n".join(make(data, f"tab:bench-{kind}" + ("" if i == 0 else f"-{tag}"), f"bench/{tag}-{kind}.json")
                      for i, (tag, data) in list(enumerate(benches))[devices])


def encodings_table(data: dict, label: str, name: str) -> str:
    cells = {(r["label"], r["shape"], r["k"]): f"{r['time_ratio']:.2f} ({r['memory_ratio']:.2f})" for r in data["rows"]}
    columns = [(shape, k) for shape in data["shapes"] for k in COST_KS]
    head = [row([""] + [f"\\multicolumn{{{len(COST_KS)}}}{{c}}{{{tex(shape)}: {'x'.join(map(str, dims))}}}"
                        for shape, dims in data["shapes"].items()]),
            " ".join(f"\\cmidrule(lr){{{2 + i * len(COST_KS)}-{1 + (i + 1) * len(COST_KS)}}}"
                     for i in range(len(data["shapes"]))),
            row(["design"] + [f"$k={k}$" for _, k in columns])]
    body = [[tex(design)] + [cells.get((design, *column), "--") for column in columns]
            for design in dict.fromkeys(r["label"] for r in data["rows"])]
    caption = (f"Forward and backward time (memory) of rotating $q$ and $k$, as multiples of axial $2\\times2$ RoPE "
               f"in the same run, on {tex(data['device'])}, shapes $B\\times H\\times N\\times D$. "
               "\\texttt{comrope-exp} and \\texttt{liere-exp} compute the commuting rotation the anchors' way "
               "(a matrix exponential per token, dense or block-wise); \\texttt{commuting/logits} skips the map "
               "back out of the plane basis, as the ViT does. " + source(data, name))
    return table(caption, label, "l" + "r" * len(columns), head, body)


def train_table(data: dict, label: str, name: str) -> str:
    body = [[tex(short_name(r["model"])), f"{r['params']:,}", f"{r['seconds_per_step']:.3f}",
             f"{r['images_per_second']:.1f}", f"{r['memory_bytes'] / 2**20:.0f}", f"{r['flops_per_image'] / 1e9:.2f}",
             "--" if r["mfu"] is None else f"{100 * r['mfu']:.1f}",
             tex(", ".join(k.removeprefix("aten::_scaled_dot_product_") for k in r["sdpa_kernels"]))]
            for r in data["rows"]]
    projected = ", ".join(f"{tex(mode)} {seconds / 86400:.1f} days"
                          for mode, seconds in data["projected_seed_comparison_seconds"].items())
    batches = ", ".join(sorted({str(r["batch"]) for r in data["rows"]}))
    caption = (f"Training steps of the seed's models on {tex(data['device'])}, batch {batches}; MFU in \\%. Projected "
               f"time of the seed's comparison ({tex(data['seed_comparison'])}) on this device: {projected}. "
               + source(data, name))
    header = ["model", "params", "s/step", "images/s", "MiB", "GFLOP/image", "MFU", "attention kernel"]
    return table(caption, label, "lrrrrrrl", [row(map(stacked, header))], body)


# ---------------------------------------------------------------------------------------------
# Figures: each returns (matplotlib figure, caption), or raises Missing


def palette(names) -> dict[str, str]:
    """One colour per name, the same in every panel."""
    return {name: f"C{i}" for i, name in enumerate(dict.fromkeys(names))}


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
    fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=7,
               frameon=False)


def fig_accuracy_vs_k(res: Results):
    data = res.load(DIGITS, ZOO["digits"])
    sizes = [s for s in ("digits", "matched_digits") if any(size_of(r["model"]) == s for r in data["runs"])]
    if not sizes:
        raise Missing(f"results/{DIGITS} holds no digits or matched_digits models", ZOO["digits"])
    colours = palette(family(r["model"]) for r in data["runs"])
    fig, axes = plt.subplots(1, len(sizes), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes):
        scores: dict[str, dict[int | None, list[float]]] = {}
        for model, runs in models_of(data, size).items():
            scores.setdefault(family(model), {}).setdefault(block_size(model), []).extend(r["test_acc"] for r in runs)
        for name, by_k in scores.items():
            if None in by_k:  # no rotation, no block size: a reference line
                ax.axhline(100 * statistics.mean(by_k[None]), color=colours[name], linestyle="--", label=name)
                continue
            ks = sorted(by_k)
            means, lows, highs = zip(*(interval(by_k[k]) for k in ks))
            bars = [[0 if math.isnan(lo) else m - lo for m, lo in zip(means, lows)],
                    [0 if math.isnan(hi) else hi - m for m, hi in zip(means, highs)]]
            ax.errorbar(ks, means, yerr=bars, marker="o", markersize=3, capsize=2, color=colours[name], label=name)
        log2_axis(ax, [block_size(m) or 2 for m in models_of(data, size)])
        ax.set(title=size.replace("_", " "), xlabel="block size k")
    axes[0][0].set_ylabel("test accuracy (%)")
    legend_below(fig, axes)
    caption = ("Digits test accuracy against block size, per family: mean over the runs of a family and $k$, error "
               "bars the 95\\% interval over those runs (the seed's three $3\\times3$ Givens planes pooled: one "
               "model up to a permutation); dashed: no rotation, a learned absolute embedding. " + source(data, DIGITS))
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
    for name, model in chosen.items():
        curve: dict[int, list[float]] = {}
        for history in filter(None, map(res.history, groups[model])):
            for epoch in history:
                curve.setdefault(epoch["epoch"], []).append(100 * epoch["val_acc"])
        if curve:
            ax.plot(sorted(curve), [statistics.mean(curve[e]) for e in sorted(curve)], label=short_name(model))
    if not ax.lines:
        plt.close(fig)
        raise Missing(f"no per-run file {shown(res.root)}/<dataset>/<run_id>.json of the zoo's runs", ZOO["digits"])
    ax.set(xlabel="epoch", ylabel="validation accuracy (%)")
    ax.legend(fontsize=7)
    caption = (f"Validation accuracy per epoch, mean over seeds, of each family's best {tex(size.replace('_', ' '))} "
               "model (by validation accuracy). " + source(data, DIGITS))
    return fig, caption


def fig_liere(res: Results):
    data = res.load("theorems.json", PROVE)
    rows = next((t["table"] for t in data["theorems"] if t["id"] == "T9"), None)
    if not rows:
        raise Missing("results/theorems.json holds no T9 table", PROVE)
    fig, ax = plt.subplots()
    for k in dict.fromkeys(r["k"] for r in rows):
        mine = [r for r in rows if r["k"] == k]
        line, = ax.plot([r["offset_cells"] for r in mine], [r["mean_error"] for r in mine], marker="o", markersize=3,
                        label=f"k = {k}")
        ax.plot([r["offset_cells"] for r in mine], [r["max_error"] for r in mine], linestyle=":", color=line.get_color())
    log2_axis(ax, [r["offset_cells"] for r in rows])
    ax.set(xlabel="offset (grid cells)", ylabel="relative error")
    ax.legend(fontsize=7)
    caption = ("LieRE at its initialisation: relative error $\\max|R(x)^\\top R(y) - R(y-x)|$ against the offset "
               "$y - x$ on a $32\\times32$ grid in $[0,1]$ coordinates, mean (solid) and maximum (dotted) over "
               "random initialisations and pairs (theorem T9; $k = 2$ is round-off). " + source(data, "theorems.json"))
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
                points = sorted((r["k"], r["time_ratio"]) for r in rows if r["label"] == design)
                ax.plot(*zip(*points), marker="o", markersize=3, color=colours[design], label=design)
            ax.set(yscale="log", xlabel="block size k", title=f"{tag}, {shape}")
            log2_axis(ax, [r["k"] for r in rows])
        axes_row[0].set_ylabel("time / axial 2x2")
    legend_below(fig, axes)
    caption = ("Time of rotating $q$ and $k$ (forward and backward) against block size, as a multiple of axial "
               "$2\\times2$ RoPE in the same run; one row per device. "
               + " ".join(source(d, f"bench/{tag}-encodings.json") for tag, d in benches.items()))
    return fig, caption


def fig_transfer(res: Results):
    """P3: each encoding's accuracy in distribution and moved or on larger grids, one panel per task."""
    data = res.load(PROBES, ZOO["probes"])
    sizes = [s for s in TRANSFER_SIZES if s in sizes_of(data)]
    if not sizes:
        raise Missing(f"results/{PROBES} holds none of the sizes {', '.join(TRANSFER_SIZES)}", ZOO["probes"])
    fig, axes = plt.subplots(1, len(sizes), sharey=True, squeeze=False, figsize=(6.4, 2.3))
    variants = list(dict.fromkeys(variant(r["model"]) for r in data["runs"] if size_of(r["model"]) in sizes))
    relative = {variant(r["model"]): r["relative_by_theory"] is True for r in data["runs"]}
    shades = {True: plt.get_cmap("Blues"), False: plt.get_cmap("Oranges")}
    counts = {flag: sum(relative[v] == flag for v in variants) for flag in shades}
    seen = {True: 0, False: 0}
    colours = {}
    for v in variants:
        seen[relative[v]] += 1
        colours[v] = shades[relative[v]](0.35 + 0.6 * seen[relative[v]] / counts[relative[v]])
    for ax, size in zip(axes[0], sizes):
        groups = {variant(m): runs for m, runs in models_of(data, size, PROBES, "probes").items()}
        tests = ["test", *extra_tests(models_of(data, size, PROBES, "probes"))]
        for i, (v, runs) in enumerate(groups.items()):
            scores = [interval(r["test_acc"] if t == "test" else r["extra_acc"][t] for r in runs) for t in tests]
            x = [j + 0.04 * (i - len(groups) / 2) for j in range(len(tests))]
            means = [m for m, _, _ in scores]
            bars = [[0 if math.isnan(lo) else m - lo for m, lo, _ in scores],
                    [0 if math.isnan(hi) else hi - m for m, _, hi in scores]]
            ax.errorbar(x, means, yerr=bars, marker="o", markersize=2.5, capsize=1.5, linewidth=1,
                        linestyle="-" if relative[v] else "--", color=colours[v], label=v.replace("_", " "))
        ax.set_xticks(range(len(tests)), labels=[TEST_HEADERS.get(t, t.removesuffix(" grid")) for t in tests])
        ax.set_title(size.replace("_", " "), fontsize=8)
    axes[0][0].set_ylabel("accuracy (%)")
    legend_below(fig, axes)
    caption = (f"Prediction P3: accuracy of each encoding in distribution and moved ({code('probe_shift')}) or on "
               f"larger grids ({code('probe_extrapolate')}, mean pooling, and {code('probe_extrapolate_cls')}, class "
               "token); mean and 95\\% interval over seeds. Solid blue: relative by the theory; dashed orange: not "
               "relative (the absolute embedding, the weighted blocks, LieRE with $k\\ge3$). " + source(data, PROBES))
    return fig, caption


TABLES = {
    "numbers": numbers,
    "theorems": theorems_table,
    "digits": functools.partial(accuracy_table, size="digits", label="tab:digits",
                                what="ViTs at digits size (the seed's rows; width grows with $k$ as in the seed)."),
    "digits_matched": functools.partial(accuracy_table, size="matched_digits", label="tab:digits-matched",
                                        what="ViTs of one width and depth for every encoding.", compare=True),
    "probes_diagonal": diagonal_table,
    "probes_transfer": transfer_table,
    **{f"probes_{pid.lower()}": functools.partial(prediction_table, pid=pid) for pid in ("P1", "P2", "P3")},
    "probes_full": probe_tables,
    "cifar": cifar_table,
    # The main text shows the first device's encoding benchmark (the CPU's); the appendix the others'.
    "bench_encodings": functools.partial(bench_tables, kind="encodings", make=encodings_table, devices=slice(1)),
    "bench_encodings_more": functools.partial(bench_tables, kind="encodings", make=encodings_table,
                                              devices=slice(1, None)),
    "bench_train": functools.partial(bench_tables, kind="train", make=train_table),
}
FIGURES = {"accuracy_vs_k": fig_accuracy_vs_k, "curves": fig_curves, "liere": fig_liere, "cost": fig_cost,
           "transfer": fig_transfer}


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
        print(f"latexmk not found: the tables and figures are written, the PDF is not. Install LaTeX with\n"
              f"  {LATEX_INSTALL}\nor run `make paper`, which does that where it can.")
        return 0
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-outdir=build",
                           "-jobname=rope-blocks", "main.tex"], cwd=out, capture_output=True, text=True)
    log = out / "build" / "rope-blocks.log"
    if done.returncode != 0:
        lines = (log.read_text(errors="replace") if log.is_file() else done.stdout + done.stderr).splitlines()
        errors = [line for line in lines if line.startswith(("!", "l."))] or lines[-20:]
        print("LaTeX failed:\n  " + "\n  ".join(errors) + f"\nfull log: {shown(log)}", file=sys.stderr)
        return 1
    print(f"PDF: {shown(out / 'build' / 'rope-blocks.pdf')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rope-blocks paper", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results", metavar="DIR", help="results folder (default: results/)")
    parser.add_argument("--out", type=Path, default=PAPER, metavar="DIR",
                        help="where generated/ and build/ go (default: paper/); for another folder, main.tex and "
                             "references.bib are copied there from paper/ first")
    parser.add_argument("--no-pdf", action="store_true", help="write the generated files only")
    args = parser.parse_args(argv)
    res = Results(args.results)
    copy_sources(args.out)
    written = generate(res, args.out)
    print(f"wrote {len(written)} files to {shown(args.out / 'generated')}/")
    for path, command in res.missing.items():
        print(f"  not yet run: {path} is missing (run {command}); its tables and figures say so")
    return 0 if args.no_pdf else compile_pdf(args.out)


if __name__ == "__main__":
    sys.exit(main())
