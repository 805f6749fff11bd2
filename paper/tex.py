"""TeX text: escaping, the formats of numbers and intervals, and booktabs tables.

Accuracies are given as the mean and the 95% Student-t interval over seeds, computed by
records/stats.py, so that the paper's intervals are the zoo's.
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


def interval(values) -> tuple[float, float, float]:
    """Accuracies in percent: (mean, low, high) of the 95% interval over seeds; nan bounds for one seed."""
    return tuple(100 * x for x in stats.mean_ci(list(values)))


def acc_ci(values) -> str:
    """'mean [low, high]' in percent (the bare mean for one seed)."""
    mean, low, high = interval(values)
    return f"{mean:.1f}" if math.isnan(low) else f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def acc_pm(values) -> str:
    """Compact: the mean and the half-width of the (symmetric Student-t) 95% interval, in percent."""
    mean, low, high = interval(values)
    return f"{mean:.1f}" if math.isnan(low) else f"{mean:.1f}{{\\scriptsize$\\pm${(high - low) / 2:.1f}}}"


def error_bars(intervals) -> list[list[float]]:
    """Matplotlib's yerr (below, above) of (mean, low, high) triples; no bar where one seed gives no interval."""
    return [
        [0 if math.isnan(low) else mean - low for mean, low, _ in intervals],
        [0 if math.isnan(high) else high - mean for mean, _, high in intervals],
    ]


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
    such as a narrower \\tabcolsep that go before the caption."""
    return "\n".join(
        [
            r"\begin{table}[htbp]",
            r"\centering",
            f"\\{size}",
            *setup,
            f"\\caption{{{caption}}}",
            f"\\label{{{label}}}",
            f"\\begin{{tabular}}{{{align}}}",
            r"\toprule",
            *head,
            r"\midrule",
            *map(row, body),
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )
