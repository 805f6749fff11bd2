"""numbers.tex: the TeX macros that carry the results' numbers into the prose of main.tex."""

from __future__ import annotations

import functools

from paper.results import BENCH, DIGITS, FASHION, PROBES, PROVE, THEOREMS, ZOO, Missing, Results
from paper.runs import (
    EQUIVALENCE_WORDS,
    design,
    epochs,
    equivalence,
    group_seed_count,
    models_of,
    prediction,
    seed_count,
    short_name,
)
from paper.tex import code, difference, points, short_commit, tex
from records import provenance
from records.stats import LEVEL, bonferroni_family

DIGIT_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
NOT_YET_RUN = "not yet run"
# The probe macros main.tex cites, defined (reading 'not yet run') before the summary exists and when
# it lacks some: the tasks with an epochs macro, and each prediction's number of comparisons. They
# are training/probes.py's TASKS and PREDICTIONS, fixed before the runs; a test keeps them equal.
PROBE_TASKS = ("probe_diagonal", "probe_shift", "probe_extrapolate", "probe_quadrant")
PREDICTION_COMPARISONS = {"P1": 2, "P2": 1, "P3": 4}


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


def comparison(pid: str, i: int):
    def of(d: dict) -> dict:
        comparisons = prediction(d, pid)["comparisons"]
        if i >= len(comparisons):
            raise Missing(f"results/{PROBES} holds no comparison {i + 1} of prediction {pid}", ZOO["probes"])
        return comparisons[i]

    return of


def probe_layout(data: dict | None) -> tuple[list[str], dict[str, int]]:
    """The tasks and {prediction: number of comparisons} of the summary, and those main.tex cites."""
    data = data or {}
    tasks = list(dict.fromkeys([*PROBE_TASKS, *(g["dataset"] for g in data.get("groups", []))]))
    found = {pid: len(p["comparisons"]) for pid, p in data.get("predictions", {}).items()}
    return tasks, {
        pid: max(found.get(pid, 0), PREDICTION_COMPARISONS.get(pid, 0))
        for pid in dict.fromkeys([*PREDICTION_COMPARISONS, *found])
    }


def probes_macros(data: dict | None) -> dict:
    tasks, predictions = probe_layout(data)
    fields = {
        "Seeds": lambda d: str(seed_count(d["runs"])),
        "Models": lambda d: str(len({r["model"] for r in d["runs"]})),
        **{
            f"Epochs{task.removeprefix('probe_').capitalize()}": functools.partial(epochs, dataset=task)
            for task in tasks
        },
    }
    for pid, count in predictions.items():
        w = macro_id(pid)
        fields[f"Verdict{w}"] = lambda d, pid=pid: prediction(d, pid)["verdict"]
        fields[f"Statement{w}"] = lambda d, pid=pid: tex(prediction(d, pid)["statement"])
        for i in range(count):
            of = comparison(pid, i)
            fields[f"{w}Diff{chr(65 + i)}"] = lambda d, of=of: difference(of(d))
            fields[f"{w}Verdict{chr(65 + i)}"] = lambda d, of=of: of(d)["verdict"]
    return run_macros(fields)


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
