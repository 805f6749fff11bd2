"""The zoo's runs as the paper names and groups them: models by size, seeds, epochs, tests, predictions.

A model's family, block size and size come from its name (records.model_id), its architecture
from its runs' own result files, and the probe design and predictions from the summary: the paper
reads what the zoo wrote and never imports the trainer.
"""

from __future__ import annotations

from paper.results import DIGITS, PROBES, ZOO, Missing, Results, shown
from records.model_id import ModelId

EQUIVALENCE_WORDS = {"holds": "equivalent", "fails": "differs", "undecided": "undecided"}


def size_of(model: str) -> str:
    return ModelId.parse(model).size


def variant(model: str) -> str:
    """The encoding without the size: 'vit_mixed_rope_2D_2x2_probe_quadrant_content' -> 'mixed_rope_2D_2x2'."""
    return model.removeprefix("vit_").removesuffix(f"_{size_of(model)}")


def short_name(model: str) -> str:
    return variant(model).replace("_", " ")


def family(model: str) -> str:
    """'commuting mixed', 'axial 1D': the family, its design, and the axes when not two."""
    v = ModelId.parse(model).variant
    return v.family + (f" {v.design}" if v.design else "") + (" 1D" if v.n_axes == 1 else "")


def block_size(model: str) -> int | None:
    v = ModelId.parse(model).variant
    return None if v.family == "none" else v.block_size


def models_of(data: dict, size: str, name: str = DIGITS, suite: str = "digits") -> dict[str, list[dict]]:
    """The zoo's runs of one model size, {model: runs}, in the zoo's order."""
    groups: dict[str, list[dict]] = {}
    for run in data["runs"]:
        if size_of(run["model"]) == size:
            groups.setdefault(run["model"], []).append(run)
    if not groups:
        raise Missing(f"results/{name} holds no {size} models", ZOO[suite])
    return groups


def probe_models(data: dict, size: str) -> dict[str, list[dict]]:
    return models_of(data, size, PROBES, "probes")


def sizes_of(data: dict) -> list[str]:
    return list(dict.fromkeys(size_of(r["model"]) for r in data["runs"]))


def seed_count(runs) -> int:
    return len({r["seed"] for r in runs})


def group_seed_count(groups: dict[str, list[dict]]) -> int:
    return seed_count(r for runs in groups.values() for r in runs)


def extra_tests(groups: dict[str, list[dict]]) -> list[str]:
    """The extra tests' names (moved, larger grids) of a size's runs, in the zoo's order."""
    # Summaries from before the suites have no extra_acc (their at-chance 16x16 canvas column is dropped).
    return list(dict.fromkeys(t for runs in groups.values() for r in runs for t in r.get("extra_acc", {})))


def scores(runs: list[dict], test: str) -> list[float]:
    """Each run's accuracy on `test`: "test" or an extra test's name."""
    return [r["test_acc"] if test == "test" else r["extra_acc"][test] for r in runs]


def epochs(data: dict) -> str:
    """The epochs of the summary's groups, e.g. '30'."""
    if "groups" not in data:  # written before the suites: one setting for every run
        return str(data["epochs"])
    return "/".join(map(str, dict.fromkeys(g["epochs"] for g in data["groups"])))


def size_group(data: dict, size: str) -> dict:
    """The summary's group (dataset, models, seeds, epochs, lr) that trains the models of one size."""
    group = next((g for g in data["groups"] if g["models"] and size_of(g["models"][0]) == size), None)
    if group is None:
        suite = data.get("suite", "probes")
        raise Missing(f"results/{suite}/summary.json has no group of {size} models", ZOO[suite])
    return group


def learning_rate(data: dict, group: dict) -> float:
    """A group's learning rate: its own, or the suite's recipe's."""
    return group.get("lr") or data["lr"]


def equivalence(data: dict) -> dict:
    if not data.get("equivalence"):
        suite = data.get("suite", "digits")
        raise Missing(f"results/{suite}/summary.json holds no equivalence analysis", ZOO[suite])
    return data["equivalence"]


def design(data: dict) -> dict:
    """The design a suite's summary quotes (training/fashion_suite.py's for Fashion-MNIST)."""
    if "design" not in data:
        raise Missing(
            f"results/{data.get('suite', 'digits')}/summary.json quotes no design", ZOO[data.get("suite", "digits")]
        )
    return data["design"]


def probe_summary(res: Results) -> dict:
    """The probe suite's summary, read only when it quotes the design of training/probe_suite.py (its
    bounds, head-level fit and estimates); an older summary counts as not yet run."""
    data = res.load(PROBES, ZOO["probes"])
    design(data)
    return data


def prediction(data: dict, pid: str) -> dict:
    p = data.get("predictions", {}).get(pid)
    if p is None:
        raise Missing(f"results/{PROBES} holds no prediction {pid}", ZOO["probes"])
    return p


def pooling(res: Results, groups: dict[str, list[dict]]) -> str:
    """'depth 2, 2x2 patches, mean pooling, content tokens only': what sets a probe size apart, as its runs'
    result files record it (content tokens only: blank tokens take no part, ViTConfig.blank_value)."""
    runs = [r for group in groups.values() for r in group]
    config = res.model_config(runs)
    if config is None:
        raise Missing(
            f"no per-run file {shown(res.root)}/probes/<dataset>/<run_id>.json of the {size_of(runs[0]['model'])} runs",
            ZOO["probes"],
        )
    patch = config["patch_size"]
    patches = f"{patch}$\\times${patch} patches, " if patch > 1 else ""
    pool = "mean pooling" if config["pool"] == "mean" else "class token"
    return f"depth {config['depth']}, {patches}{pool}" + (
        ", content tokens only" if config.get("blank_value") is not None else ""
    )
