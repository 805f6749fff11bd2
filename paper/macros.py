"""numbers.tex: the TeX macros that carry the results' numbers into the prose of main.tex."""

from __future__ import annotations

from paper.results import BENCH, DIGITS, FASHION, PROBES, PROVE, THEOREMS, ZOO, Missing, Results
from paper.runs import (
    EQUIVALENCE_WORDS,
    design,
    epochs,
    equivalence,
    group_seed_count,
    learning_rate,
    models_of,
    prediction,
    seed_count,
    short_name,
    size_group,
)
from paper.tex import bound_value, code, difference, estimate_parts, points, sci, short_commit, tex
from records import provenance
from records.stats import LEVEL, bonferroni_family

DIGIT_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
NOT_YET_RUN = "not yet run"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The probe macros main.tex cites are defined (reading 'not yet run') before the summary exists and when it
# lacks some, so their number is fixed here: training/probe_suite.py's sizes (GROUPS) and, per prediction,
# its numbers of exact bounds and of measured estimates, fixed before the runs; a test keeps them equal.
PROBE_SIZES = (
    "probe_diagonal_content",
    "probe_quadrant",
    "probe_quadrant_content",
    "probe_extrapolate",
    "probe_extrapolate_content",
)
PROBE_LAYOUT = {"P1": (1, 0), "P2": (0, 3), "P3": (2, 7)}  # prediction: (bounds, estimates)


def macro_id(text: str) -> str:
    """'P1' -> 'POne': TeX macro names hold no digits."""
    return "".join(DIGIT_WORDS[int(c)] if c.isdigit() else c for c in text)


def provenance_macros(extra: dict) -> dict:
    return {
        "Command": lambda d: code(d["command"]),
        "Commit": lambda d: tex(short_commit(d["commit"])),
        "Date": lambda d: d["date"][:10],
        **extra,
    }


def run_macros(extra: dict) -> dict:
    return provenance_macros(
        {
            "Device": lambda d: tex(d["device"]),
            "WallMinutes": lambda d: f"{d['wall_seconds'] / 60:.0f}",
            "Runs": lambda d: str(len(d["runs"])),
            **extra,
        }
    )


def size_field(size: str, count):
    return lambda d: str(count(models_of(d, size)))


def verdict_count(verdict: str):
    return lambda d: str(sum(c["verdict"] == verdict for c in equivalence(d)["comparisons"]))


EQUIVALENCE_FIELDS = {
    "EquivalenceReference": lambda d: tex(short_name(equivalence(d)["reference"])),
    "EquivalenceMargin": lambda d: points(equivalence(d)["margin"]),
    "EquivalenceCompared": lambda d: str(len(equivalence(d)["comparisons"])),
    **{f"Equivalence{word.capitalize()}": verdict_count(verdict) for verdict, word in EQUIVALENCE_WORDS.items()},
}


def digits_macros(data: dict | None) -> dict:
    return run_macros(
        {
            "Epochs": epochs,
            "SizeSeeds": size_field("digits", group_seed_count),
            "SizeModels": size_field("digits", len),
            "MatchedSeeds": size_field("matched_digits", group_seed_count),
            "MatchedModels": size_field("matched_digits", len),
            **EQUIVALENCE_FIELDS,
        }
    )


def fashion_macros(data: dict | None) -> dict:
    return run_macros(
        {
            "Epochs": epochs,
            "Seeds": size_field("fashion", group_seed_count),
            "Models": size_field("fashion", len),
            "DesignCommit": lambda d: tex(short_commit(design(d)["commit"])),
            "ExtraImages": lambda d: f"{design(d)['extra_images']:,}",
            "EquivalenceFamily": lambda d: str(
                bonferroni_family(equivalence(d)["comparisons"][0].get("level", LEVEL))
                if equivalence(d)["comparisons"]
                else 0
            ),
            **EQUIVALENCE_FIELDS,
        }
    )


def size_id(size: str) -> str:
    """'probe_quadrant_content' -> 'QuadrantContent'."""
    return "".join(word.capitalize() for word in size.removeprefix("probe_").split("_"))


def nth(pid: str, kind: str, i: int):
    """The i-th of a prediction's "bounds" or "estimates"."""

    def of(d: dict) -> dict:
        items = prediction(d, pid).get(kind, [])
        if i >= len(items):
            raise Missing(f"results/{PROBES} holds no {kind[:-1]} {LETTERS[i]} of prediction {pid}", ZOO["probes"])
        return items[i]

    return of


def head_fit(d: dict) -> dict:
    fit = prediction(d, "P2").get("head_fit")
    if fit is None:
        raise Missing(f"results/{PROBES} holds no head-level fit", ZOO["probes"])
    return fit


def fit_check(name: str):
    """The head-level check ``name`` ("control", "axial", "mixed": head_fit.table)."""

    def of(d: dict) -> dict:
        check = next((c for c in head_fit(d)["checks"] if c.get("name") == name), None)
        if check is None:
            raise Missing(f"results/{PROBES} holds no head-level {name} check", ZOO["probes"])
        return check

    return of


def estimate_level(d: dict) -> float:
    """The level of the suite's intervals (1 - 0.05 / m: Bonferroni over the m intervals)."""
    estimates = [e for p in d.get("predictions", {}).values() for e in p.get("estimates", [])]
    level = estimates[0].get("level", LEVEL) if estimates else None
    if level is None:
        raise Missing(f"results/{PROBES} holds no estimate", ZOO["probes"])
    return level


def probe_layout(data: dict | None) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """The sizes and {prediction: (bounds, estimates)} of the summary, and those main.tex cites."""
    data = data or {}
    sizes = list(dict.fromkeys([*PROBE_SIZES, *data.get("design", {}).get("groups", {})]))
    found = {
        pid: (len(p.get("bounds", [])), len(p.get("estimates", []))) for pid, p in data.get("predictions", {}).items()
    }
    return sizes, {
        pid: tuple(max(a, b) for a, b in zip(found.get(pid, (0, 0)), PROBE_LAYOUT.get(pid, (0, 0))))
        for pid in dict.fromkeys([*PROBE_LAYOUT, *found])
    }


def probes_macros(data: dict | None) -> dict:
    """The probe suite's macros, \\Probes<name> (`P` below is macro_id's POne, PTwo, PThree; `L` the letter of
    a prediction's bound or estimate in the summary's order, A, B, ...; accuracies in points, one decimal):

    - Command, Commit, Date, Device, WallMinutes, Runs, Models, Seeds: the record run;
    - DesignCommit: the commit that fixed training/probe_suite.py; Exact: the bound of the exact claims;
      Family: the number m of the suite's intervals; Level: their level in % (1 - 0.05 / m, Bonferroni);
      FamilyLevel: the family's level in %;
    - Epochs<S>, Lr<S>: the epochs and learning rate of size S (size_id: DiagonalContent, Quadrant,
      QuadrantContent, ExtrapolateContent);
    - Verdict<P>, Statement<P>: each prediction's verdict and statement;
    - <P>Bound<L>Runs, <P>Bound<L>Largest, <P>Bound<L>Verdict: an exact bound's runs checked, the largest
      score over them (export error for P1, pair error for P3) and its verdict;
    - <P>Estimate<L>: 'mean [low, high]'; <P>Estimate<L>Mean, ...Low, ...High (a difference signed, a score
      not; the bounds '--' without an interval) and ...Seeds;
    - HeadFitAxialSmallest, HeadFitMixedLargest, HeadFitFloor: P2's head-level fit, the smallest KL of the
      axial heads and the largest of the mixed heads on the diagonal pair, and the floor log 2;
      HeadFitControlLargest: the largest KL of any head on the control (a product target);
      HeadFitDimHead, HeadFitStarts, HeadFitSteps: its head width, starts and Adam steps.

    A summary from before the design (no "design") gives 'not yet run' for every one of them."""
    sizes, layout = probe_layout(data)
    fields = {
        "Seeds": lambda d: str(seed_count(d["runs"])),
        "Models": lambda d: str(len({r["model"] for r in d["runs"]})),
        "DesignCommit": lambda d: tex(short_commit(design(d)["commit"])),
        "Exact": lambda d: sci(design(d)["exact"]),
        "Family": lambda d: str(bonferroni_family(estimate_level(d))),
        "Level": lambda d: f"{100 * estimate_level(d):.4g}",
        "FamilyLevel": lambda d: points(design(d)["family_level"]),
        "HeadFitAxialSmallest": lambda d: sci(fit_check("axial")(d)["smallest"]),
        "HeadFitMixedLargest": lambda d: sci(fit_check("mixed")(d)["largest"]),
        "HeadFitControlLargest": lambda d: sci(fit_check("control")(d)["largest"]),
        "HeadFitFloor": lambda d: sci(head_fit(d)["floor"]),
        "HeadFitDimHead": lambda d: str(head_fit(d)["dim_head"]),
        "HeadFitStarts": lambda d: str(head_fit(d)["starts"]),
        "HeadFitSteps": lambda d: str(head_fit(d)["steps"]),
    }
    for size in sizes:
        fields[f"Epochs{size_id(size)}"] = lambda d, size=size: str(size_group(d, size)["epochs"])
        fields[f"Lr{size_id(size)}"] = lambda d, size=size: f"{learning_rate(d, size_group(d, size)):g}"
    for pid, (bounds, estimates) in layout.items():
        w = macro_id(pid)
        fields[f"Verdict{w}"] = lambda d, pid=pid: tex(prediction(d, pid)["verdict"])
        fields[f"Statement{w}"] = lambda d, pid=pid: tex(prediction(d, pid)["statement"])
        for i in range(bounds):
            of, name = nth(pid, "bounds", i), f"{w}Bound{LETTERS[i]}"
            fields[f"{name}Runs"] = lambda d, of=of: str(of(d)["runs"])
            fields[f"{name}Largest"] = lambda d, of=of: bound_value(of(d)["largest"])
            fields[f"{name}Verdict"] = lambda d, of=of: tex(of(d)["verdict"])
        for i in range(estimates):
            of, name = nth(pid, "estimates", i), f"{w}Estimate{LETTERS[i]}"
            fields[name] = lambda d, of=of: difference(of(d))
            for j, part in enumerate(("Mean", "Low", "High")):
                fields[name + part] = lambda d, of=of, j=j: estimate_parts(of(d))[j] or "--"
            fields[f"{name}Seeds"] = lambda d, of=of: str(len(of(d)["seeds"]))
    return {key: of_the_design(field) for key, field in run_macros(fields).items()}


def of_the_design(field):
    """`field`, read only from a summary that quotes the design: an older one raises Missing ('not yet run')."""

    def of(d: dict) -> str:
        design(d)
        return field(d)

    return of


# results file -> (macro prefix, the command that makes it, the maker of {macro suffix: value from the file})
MACROS = {
    THEOREMS: (
        "Theorems",
        PROVE,
        lambda data: provenance_macros(
            {
                "Seconds": lambda d: f"{d['seconds']:.0f}",
                "True": lambda d: str(sum(t["verdict"] is True for t in d["theorems"])),
                "Total": lambda d: str(len(d["theorems"])),
            }
        ),
    ),
    DIGITS: ("Digits", ZOO["digits"], digits_macros),
    PROBES: ("Probes", ZOO["probes"], probes_macros),
    FASHION: ("Fashion", ZOO["fashion"], fashion_macros),
    "bench/cpu-encodings.json": (
        "Bench",
        BENCH,
        lambda data: provenance_macros({"Device": lambda d: tex(d["device"])}),
    ),
}


def field_value(field, data: dict | None) -> str:
    if data is None:
        return NOT_YET_RUN
    try:
        return field(data)
    except Missing:  # a field the file lacks
        return NOT_YET_RUN


def numbers(res: Results) -> str:
    """The macros the prose uses; those of a missing file (or of a field the file lacks) read 'not yet run'."""
    values = {"PaperCommit": provenance.head(short=True) or "unknown"}
    for name, (prefix, command, fields) in MACROS.items():
        try:
            data = res.load(name, command)
        except Missing:
            data = None
        values.update({prefix + key: field_value(field, data) for key, field in fields(data).items()})
    return "".join(f"\\newcommand{{\\{key}}}{{{value}}}\n" for key, value in values.items())
