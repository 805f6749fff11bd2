"""Fabricated result files of full size for the paper's tests, and the numbers recomputed independently.

The other test_paper_* modules import these helpers; the one test here checks the fabrication itself.
The fakes use the trainer's registry and analysis (training/), which the paper itself never imports.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import zlib
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from training import fashion_suite, models, probes, zoo

PROVENANCE = {"commit": "0123456789abcdef0123456789abcdef01234567", "date": "2026-01-02T03:04:05Z"}
DEVICE = "CPU (2 cores, x86_64), 2 run(s) at a time, 1 thread each"
DIGITS_SEEDS = {"digits": (0, 1, 2), "matched_digits": (0, 1, 2, 3, 4)}
# The fabricated probe accuracies are made so that the three predictions get three different verdicts.
EXPECTED_VERDICTS = {"P1": "holds", "P2": "fails", "P3": "undecided"}


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def theorem(id_, verdict, residual, table=None):
    return {
        "id": id_,
        "statement": f"statement of {id_} with R(x)^T R(y) = R(y - x) and a_b",
        "method": "exact: a symbolic identity; numeric: scipy at random values",
        "covers": "k = 2..4",
        "verdict": verdict,
        "residual": residual,
        "seconds": 0.1,
        "checks": [],
        "table": table,
    }


def relative(model: str) -> bool | None:
    if "no_rope" in model:
        return None
    return not ("weighted" in model or ("liere" in model and "_2x2_" not in model))


def noise(model: str, seed: int, test: str, scale: float) -> float:
    return scale * np.random.default_rng([zlib.crc32(f"{model}|{test}".encode()), seed]).standard_normal()


def probe_accuracy(model: str, seed: int, test: str) -> float:
    if models.size_of(model) == "probe_diagonal":  # every rotary design alike: P1 holds, P2 fails
        return (0.62 if "no_rope" in model else 0.85) + noise(model, seed, test, 0.004)
    if test == "test":
        return 0.99 + noise(model, seed, test, 0.003)
    if relative(model):  # moved or larger: about the margin below, with a wide spread: P3 undecided
        return 0.94 + noise(model, seed, test, 0.05)
    return 0.50 + noise(model, seed, test, 0.02)


def run_row(model: str, seed: int, dataset: str, test_acc: float, extra: dict) -> dict:
    return {
        "model": model,
        "seed": seed,
        "dataset": dataset,
        "run_id": f"{model}_seed{seed}",
        "reused": False,
        "best_epoch": 3,
        "val_acc": test_acc - 0.01,
        "test_acc": test_acc,
        "extra_acc": extra,
        "parameters": 12345,
        "encoding_parameters": 0,
        "relative_by_theory": relative(model),
        "relative_error": None if not relative(model) else 1e-15,
        "train_seconds": 1.0,
    }


def digits_summary() -> dict:
    runs = [
        run_row(model, seed, "digits", (0.70 if "no_rope" in model else 0.93) + noise(model, seed, "test", 0.01), {})
        for size, seeds in DIGITS_SEEDS.items()
        for model in models.model_names(size)
        for seed in seeds
    ]
    groups = [
        {"dataset": "digits", "models": models.model_names(size), "seeds": list(seeds), "epochs": 30}
        for size, seeds in DIGITS_SEEDS.items()
    ]
    return {
        "suite": "digits",
        "command": "rope-blocks zoo --suite digits",
        **PROVENANCE,
        "device": DEVICE,
        "wall_seconds": 3600,
        "batch_size": 32,
        "lr": 0.003,
        "groups": groups,
        **zoo.analyse("digits", runs),
        "runs": runs,
        "failures": [],
    }


def probes_summary() -> dict:
    runs, groups = [], []
    for size, (task, variants, epochs) in probes.SUITE.items():
        names = [f"vit_{v}_{size}" for v in variants]
        groups.append({"dataset": task, "models": names, "seeds": list(probes.SEEDS), "epochs": epochs})
        tests = {
            "probe_shift": ["moved by whole patches", "moved off the patch grid"],
            "probe_extrapolate": ["12x12 grid", "16x16 grid"],
        }.get(task, [])
        runs += [
            run_row(m, s, task, probe_accuracy(m, s, "test"), {t: probe_accuracy(m, s, t) for t in tests})
            for m in names
            for s in probes.SEEDS
        ]
    return {
        "suite": "probes",
        "command": "rope-blocks zoo --suite probes",
        **PROVENANCE,
        "device": DEVICE,
        "wall_seconds": 5400,
        "batch_size": 32,
        "lr": 0.003,
        "groups": groups,
        **zoo.analyse("probes", runs),
        "runs": runs,
        "failures": [],
    }


def fashion_summary() -> dict:
    """Every model of the Fashion-MNIST design at its seeds: the absolute embedding a point below, the rest alike."""
    tests = [*(f"{n}x{n} {p}" for n in fashion_suite.RESOLUTIONS for p in fashion_suite.POSITIONS)]
    tests += [f"canvas {where}" for where in ("centred", "top-left", "bottom-right")]
    runs = [
        run_row(
            m,
            s,
            "fashion",
            (0.86 if "no_rope" in m else 0.87) + noise(m, s, "test", 0.002),
            {t: 0.6 + noise(m, s, t, 0.05) for t in tests},
        )
        for m in fashion_suite.names()
        for s in fashion_suite.SEEDS
    ]
    group = {"dataset": "fashion", "models": list(fashion_suite.names()), "seeds": list(fashion_suite.SEEDS)}
    return {
        "suite": "fashion",
        "command": "rope-blocks zoo --suite fashion --out .",
        **PROVENANCE,
        "device": DEVICE,
        "wall_seconds": 9000,
        "batch_size": 128,
        "lr": 0.001,
        "groups": [{**group, "epochs": fashion_suite.EPOCHS}],
        **zoo.analyse("fashion", runs),
        "runs": runs,
        "failures": [],
    }


def model_config(model: str) -> dict:
    """The architecture a run's own result file records, as the trainer writes it."""
    return dataclasses.asdict(models.model_config(model, image_size=16, in_chans=1, num_classes=4))


def encodings_bench(device):
    """Every design and shape of the real benchmark, so that its table has its real size."""
    shapes = {"seed": [2, 4, 64, 32], "vit_b": [2, 12, 197, 64]}
    ratios = {
        ("axial", 2): 1.0,
        ("givens", 2): 1.5,
        ("givens", 4): 1.25,
        ("liere", 2): 7.5,
        ("liere", 4): 14.25,
        ("liere", 8): 16.333,
    }
    labels = [
        "axial",
        "mixed",
        "givens",
        "weighted",
        "commuting/fixed",
        "commuting/cayley",
        "commuting/logits",
        "liere",
        "liere-exp",
        "comrope-exp",
    ]
    rows = [
        {
            "shape": shape,
            "dims": dims,
            "label": label,
            "k": k,
            "seconds": 0.01,
            "memory_bytes": 1000,
            "time_ratio": ratios.get((label, k), 2.0),
            "memory_ratio": 1.25,
        }
        for shape, dims in shapes.items()
        for label in labels
        for k in (2, 4, 8)
        if label not in ("axial", "mixed") or k == 2
    ]
    return {
        "command": "python -m benchmarks.bench_encodings --batch 2",
        **PROVENANCE,
        "device": device,
        "torch": "2.14.1",
        "shapes": shapes,
        "rows": rows,
    }


# One function for one fake results tree: its parts (certificates, suites, benchmarks) only make sense together.
def make_results(root: Path) -> Path:
    """Full-size results: every model of both suites at their seeds, so the paper has its final length."""
    t9 = [
        {
            "k": k,
            "offset_cells": o,
            "mean_error": 0.1 * o * (k > 2) + 1e-14,
            "max_error": 0.2 * o * (k > 2) + 1e-13,
            "mean_leading_term": 0.0,
        }
        for k in (2, 4)
        for o in (1, 2, 4)
    ]
    write(
        root / "theorems.json",
        {
            "command": "rope-blocks prove",
            **PROVENANCE,
            "seconds": 15.04,
            "theorems": [
                theorem("T1", True, 1.7030821197749901e-13),
                theorem("T7", False, 3.0),
                theorem("T9", True, 9.3e-07, t9),
            ],
        },
    )
    digits = digits_summary()
    write(root / "digits" / "summary.json", digits)
    for r in digits["runs"]:
        history = [
            {"epoch": e, "train_loss": 1.0 / e, "val_acc": r["val_acc"] * e / 3, "test_acc": r["test_acc"]}
            for e in (1, 2, 3)
        ]
        write(root / "digits" / f"{r['run_id']}.json", {"model": r["model"], "history": history})
    write(root / "fashion" / "summary.json", fashion_summary())
    probe = probes_summary()
    write(root / "probes" / "summary.json", probe)
    for r in probe["runs"]:  # as the zoo lays them out: results/probes/<dataset>/<run_id>.json
        write(
            root / "probes" / r["dataset"] / f"{r['run_id']}.json",
            {"model": r["model"], "model_config": model_config(r["model"]), "history": []},
        )
    write(root / "bench" / "cpu-encodings.json", encodings_bench("x86_64 CPU, 2 threads"))
    write(root / "bench" / "nvidia-h100-encodings.json", encodings_bench("NVIDIA H100"))
    write(
        root / "bench" / "cpu-train.json",
        {
            "command": "python -m benchmarks.bench_train --models seed",
            **PROVENANCE,
            "device": "x86_64 CPU",
            "seed_comparison": "11 models x 25 epochs x 50000 images",
            "projected_seed_comparison_seconds": {"eager": 864000},
            "rows": [
                {
                    "model": "vit_rope_2D_axial_2x2_cifar10",
                    "compile": False,
                    "amp": False,
                    "batch": 2,
                    "params": 530570,
                    "seconds_per_step": 1.3333,
                    "images_per_second": 1.5,
                    "memory_bytes": 2**30,
                    "flops_per_image": 9.68e9,
                    "mfu": None,
                    "sdpa_kernels": ["aten::_scaled_dot_product_attention_math"],
                }
            ],
        },
    )
    return root


def generated(out: Path, name: str) -> str:
    return (out / "generated" / name).read_text()


def summary(results: Path, suite: str) -> dict:
    return json.loads((results / suite / "summary.json").read_text())


def interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval in percent, computed here independently of records/stats.py."""
    values = list(values)
    mean = statistics.fmean(values)
    half = scipy_stats.t.ppf((1 + level) / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return 100 * mean, 100 * (mean - half), 100 * (mean + half)


def with_ci(values, decimals: int = 1) -> str:
    """How the tables print accuracies: percent, mean [low, high]."""
    return "{0:.{3}f} [{1:.{3}f}, {2:.{3}f}]".format(*interval(values), decimals)


def with_half_width(values) -> str:
    """How the compact probe table prints them: the mean and the interval's half-width."""
    mean, low, high = interval(values)
    return f"{mean:.1f}{{\\scriptsize$\\pm${(high - low) / 2:.1f}}}"


def signed(x: float, decimals: int = 1) -> str:
    """Points with their sign; zero unsigned."""
    text = f"{x:+.{decimals}f}"
    return f"${0:.{decimals}f}$" if float(text) == 0 else f"${text}$"


def paired(
    runs: list[dict], a: list[str], a_test: str, b: list[str], b_test: str, level: float = 0.95, decimals: int = 1
) -> str:
    """A comparison recomputed from the runs: mean over each side's models, seed by seed, then A - B."""

    def side(names, test):
        return {
            s: statistics.fmean(
                (r["test_acc"] if test == "test" else r["extra_acc"][test])
                for r in runs
                if r["model"] in names and r["seed"] == s
            )
            for s in sorted({r["seed"] for r in runs if r["model"] in names})
        }

    sa, sb = side(a, a_test), side(b, b_test)
    mean, low, high = (signed(x, decimals) for x in interval((sa[s] - sb[s] for s in sa), level))
    return f"{mean} [{low}, {high}]"


def table_row(text: str, first_cell: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(first_cell + " & ")]
    assert len(rows) == 1, (first_cell, rows)
    return rows[0]


def test_the_fabricated_probes_give_each_prediction_its_own_verdict(tmp_path):
    predictions = summary(make_results(tmp_path / "results"), "probes")["predictions"]
    assert {pid: p["verdict"] for pid, p in predictions.items()} == EXPECTED_VERDICTS
