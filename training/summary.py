"""The zoo's summary in Markdown: a table per group of models, then the comparisons and verdicts."""

from __future__ import annotations

import math

from records import stats
from records.model_id import ModelId

from .suites import Group


def fmt_ci(values) -> str:
    """'mean [low, high]' of accuracies (95% interval over seeds, cut to [0, 1]); the mean alone for one seed."""
    mean, low, high = stats.mean_ci(values)
    return f"{mean:.4f}" if math.isnan(low) else f"{mean:.4f} [{max(low, 0.0):.4f}, {min(high, 1.0):.4f}]"


def fmt_difference(c: dict) -> str:
    if c["difference"] is None:
        return "-"
    ci = "" if c["ci"] is None else f" [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]"
    return f"{c['difference']:+.4f}{ci}"


def summary_text(suite: str, rows: list[dict], groups: list[Group], analysis: dict) -> str:
    """Markdown: a table per group (mean and 95% interval over seeds), then the analysis."""
    parts = []
    if "design" in analysis:
        d = analysis["design"]
        parts.append(
            f"The record run's design: {d['file']} as of commit {d['commit']} (models, seeds, epochs, recipe; "
            + (f"margin {d['margin']}; " if "margin" in d else f"exact bounds {d['exact']:g}; ")
            + f"test: {d['test']})."
        )
    for g in groups:
        mine = {name: [r for r in rows if r["model"] == name and r["seed"] in g.seeds] for name in g.models}
        mine = {name: runs for name, runs in mine.items() if runs}
        if not mine:
            continue
        tests = list(dict.fromkeys(t for runs in mine.values() for r in runs for t in r["extra_acc"]))
        lines = [
            "| model | seeds | test acc | "
            + "".join(f"{t} acc | " for t in tests)
            + "params | encoding params | relative (theory) | measured relative error | export error | pair error |",
            "| --- " * (9 + len(tests)) + "|",
        ]
        for name, runs in mine.items():
            rel = runs[0]["relative_by_theory"]
            errors = [r["relative_error"] for r in runs if r["relative_error"] is not None]
            # Summaries from before the export check have no export_error.
            exports = [r["export_error"] for r in runs if r.get("export_error") is not None]
            pairs = [r["pair_error"] for r in runs if r.get("pair_error") is not None]
            extra = "".join(f"{fmt_ci(r['extra_acc'][t] for r in runs)} | " for t in tests)
            lines.append(
                f"| {name} | {len(runs)} | {fmt_ci(r['test_acc'] for r in runs)} | {extra}"
                f"{runs[0]['parameters']:,} | {runs[0]['encoding_parameters']:,} "
                f"| {'-' if rel is None else 'yes' if rel else 'no'} "
                f"| {_largest(errors)} | {_largest(exports)} | {_largest(pairs)} |"
            )
        parts.append(
            f"Size {ModelId.parse(g.models[0]).size}, trained on {g.dataset} for {g.epochs} epochs"
            + (f" at learning rate {g.lr:g}" if g.lr else "")
            + ", seeds "
            f"{', '.join(map(str, g.seeds))} (accuracy: mean [95% interval over seeds]):\n\n" + "\n".join(lines)
        )
    if "equivalence" in analysis and analysis["equivalence"]["comparisons"]:
        eq = analysis["equivalence"]
        level = eq["comparisons"][0].get("level", stats.LEVEL)
        # The design's number of comparisons, which a partial run may not all have made.
        correction = (
            "" if level == stats.LEVEL else f", Bonferroni-corrected for {stats.bonferroni_family(level)} comparisons"
        )
        lines = [
            f"Each matched model against {eq['reference']}: paired difference of test accuracy "
            f"[{level * 100:g}% interval over seeds{correction}]; equivalent when the interval lies within "
            f"+-{eq['margin']}.",
            "",
            "| model | difference | verdict |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {variant_name(c['a'][0])} | {fmt_difference(c)} | {_equivalence_words(c['verdict'])} |"
            for c in eq["comparisons"]
        ]
        parts.append("\n".join(lines))
    for pid, p in analysis.get("predictions", {}).items():
        parts.append(f"{pid}: {p['statement']} Verdict: **{p['verdict']}**.")
        if p["bounds"]:
            lines = ["| exact claim | runs | largest | bound | verdict |", "| --- | --- | --- | --- | --- |"]
            lines += [
                f"| {b['claim']} | {b['runs']} | {_bound_value(b['largest'])} | {b['tol']:g} | {b['verdict']} |"
                for b in p["bounds"]
            ]
            parts.append("\n".join(lines))
        if "head_fit" in p:
            parts.append(_head_fit_text(p["head_fit"]))
        if p["estimates"]:
            level = p["estimates"][0].get("level", stats.LEVEL)
            lines = [
                f"Measured, no verdict (paired {p['estimates'][0].get('method', 't')} intervals at level "
                f"{level:.4g}, Bonferroni over the suite's {stats.bonferroni_family(level)} intervals):",
                "",
                "| quantity | mean [interval] | seeds |",
                "| --- | --- | --- |",
            ]
            lines += [f"| {e['claim']} | {fmt_difference(e)} | {len(e['seeds'])} |" for e in p["estimates"]]
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _bound_value(largest) -> str:
    return "-" if largest is None else largest if isinstance(largest, str) else f"{largest:.1e}"


def _head_fit_text(fit: dict) -> str:
    """The head-level fit of P2: the lowest KL each design's head reaches on each target, then its checks."""
    targets = list(next(iter(next(iter(fit["fits"].values())).values())))
    lines = [
        f"One head of width {fit['dim_head']}, query at the centre of a {fit['grid']}x{fit['grid']} grid, fixed "
        f"content; lowest KL over {fit['starts']} start{'s' if fit['starts'] != 1 else ''} of {fit['steps']} "
        f"Adam steps (floor for axial heads on the diagonal pair: log 2 = {fit['floor']:.4f})"
        + (", the quick fit of a quick or partial suite:" if fit.get("quick") else ":"),
        "",
        "| design | model | " + " | ".join(targets) + " |",
        "| --- " * (2 + len(targets)) + "|",
    ]
    for design, fits in fit["fits"].items():
        lines += [f"| {design} | {v} | " + " | ".join(f"{kl[t]:.4f}" for t in targets) + " |" for v, kl in fits.items()]
    lines += ["", "| check | verdict |", "| --- | --- |"]
    lines += [f"| {c['claim']} | {c['verdict']} |" for c in fit["checks"]]
    return "\n".join(lines)


def _largest(values: list[float]) -> str:
    return f"{max(values):.1e}" if values else "-"


def variant_name(name: str) -> str:
    """vit_<variant>_<size> -> <variant>."""
    return str(ModelId.parse(name).variant)


def _equivalence_words(verdict: str) -> str:
    return {"holds": "equivalent", "fails": "differs", "undecided": "undecided"}[verdict]
