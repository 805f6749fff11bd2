"""TeX text: escaping, the formats of numbers and intervals, and booktabs tables.

Accuracies are given as the mean and the 95% Student-t interval over seeds, computed by
records/stats.py, so that the paper's intervals are the zoo's; the probe tables cut it to [0, 100], the
values an accuracy can take, as the probe suite cuts its own intervals (records.stats.estimate).
"""

from __future__ import annotations

import math

from records import stats

TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def tex(text) -> str:
    return "".join(TEX_SPECIALS.get(c, c) for c in str(text))


def code(text) -> str:
    # "-{}" keeps "--" from becoming an en dash in fonts that have the ligature.
    return f"\\texttt{{{tex(text).replace('-', '-{}')}}}"


def short_commit(commit: str) -> str:
    head, _, note = commit.partition(" ")
    return f"{head[:7]} {note}".strip()


def source(data: dict, name: str) -> str:
    """Where a table's numbers come from: file, command, commit and date."""
    return (
        f"From {code('results/' + name)}, written by {code(data['command'])} "
        f"at commit {tex(short_commit(data['commit']))} on {data['date'][:10]}."
    )


def interval(values, cut: bool = False) -> tuple[float, float, float]:
    """Accuracies in percent: (mean, low, high) of the 95% interval over seeds, with `cut` cut to [0, 100];
    nan bounds for one seed."""
    mean, low, high = (100 * x for x in stats.mean_ci(list(values)))
    return (mean, max(low, 0.0), min(high, 100.0)) if cut and not math.isnan(low) else (mean, low, high)


def acc_ci(values, decimals: int = 1, cut: bool = False) -> str:
    """'mean [low, high]' in percent (the bare mean for one seed)."""
    mean, low, high = (f"{x:.{decimals}f}" for x in interval(values, cut))
    return mean if low == "nan" else f"{mean} [{low}, {high}]"


def acc_pm(values, decimals: int = 1) -> str:
    """Compact: the mean and the half-width of the (symmetric Student-t) 95% interval, in percent."""
    mean, low, high = interval(values)
    if math.isnan(low):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f}{{\\scriptsize$\\pm${(high - low) / 2:.{decimals}f}}}"


def error_bars(intervals) -> list[list[float]]:
    """Matplotlib's yerr (below, above) of (mean, low, high) triples; no bar where one seed gives no interval."""
    return [
        [0 if math.isnan(low) else mean - low for mean, low, _ in intervals],
        [0 if math.isnan(high) else high - mean for mean, _, high in intervals],
    ]


def signed(points: float, decimals: int = 1) -> str:
    text = f"{points:+.{decimals}f}"
    return f"${abs(float(text)):.{decimals}f}$" if float(text) == 0 else f"${text}$"


def no_interval(ci) -> bool:
    return ci is None or any(x is None or math.isnan(x) for x in ci)


def estimate_parts(c: dict, decimals: int = 1) -> tuple[str, str | None, str | None]:
    """A comparison's or estimate's mean and interval bounds in accuracy points: signed for a difference A - B
    (a comparison, or an estimate with a B), unsigned for a score alone; None bounds without an interval."""
    if c["difference"] is None:
        return "--", None, None

    def fmt(x: float) -> str:
        return signed(100 * x, decimals) if "b" in c else f"{100 * x:.{decimals}f}"

    if no_interval(c["ci"]):
        return fmt(c["difference"]), None, None
    return fmt(c["difference"]), fmt(c["ci"][0]), fmt(c["ci"][1])


def difference(c: dict, decimals: int = 1) -> str:
    """A paired comparison's A - B (or an estimate's score) in accuracy points, with its interval."""
    mean, low, high = estimate_parts(c, decimals)
    return mean if low is None else f"{mean} [{low}, {high}]"


def points(fraction: float) -> str:
    return f"{100 * fraction:g}"


def points_words(fraction: float) -> str:
    """'1 point', '0.5 points', '3 points'."""
    return f"{points(fraction)} point{'' if points(fraction) == '1' else 's'}"


def sci(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e3:
        return f"{x:.3g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"${mantissa}\\cdot 10^{{{int(exponent)}}}$"


def bound_value(x) -> str:
    """A bound check's largest (or smallest) value: '--' when no run measured it, the summary's words when
    it is not finite."""
    return "--" if x is None else tex(x) if isinstance(x, str) else sci(x)


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


def table(
    caption: str,
    label: str,
    align: str,
    head: list[str],
    body: list[list[str]],
    size: str = "small",
    setup: tuple[str, ...] = (),
) -> str:
    """A booktabs float; `head` holds finished header lines, `body` the cells of each row, `setup` lines
    such as a narrower \\tabcolsep that go before the caption. A tabular wider than the text block is
    scaled down to it (graphicx's \\resizebox, measured by TeX); a narrower one keeps its size."""
    return "\n".join(
        [
            r"\begin{table}[htbp]",
            r"\centering",
            f"\\{size}",
            *setup,
            f"\\caption{{{caption}}}",
            f"\\label{{{label}}}",
            r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            f"\\begin{{tabular}}{{{align}}}",
            r"\toprule",
            *head,
            r"\midrule",
            *map(row, body),
            r"\bottomrule",
            r"\end{tabular}}",
            r"\end{table}",
            "",
        ]
    )
