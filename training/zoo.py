"""`rope-blocks zoo`: train a suite of models on offline data and tabulate it.

Every run is an ordinary training run (its own checkpoints and result file, training.trainer),
so an interrupted zoo picks up where it stopped and finished runs are never trained twice. Each
run is scored with its best checkpoint (chosen on validation). The suites are in
training/suites.py; the summary goes to results/<suite>/summary.{json,md} under the output folder.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

from records import provenance, stats
from records.model_id import ModelId

from . import checkpoint, evaluation, export, fashion_suite, head_fit, launch, probe_suite, probes, trainer
from .config import TrainConfig, command_line, run_paths, saved_setting
from .evaluation import ExtraTest
from .suites import (
    EQUIVALENCE_MARGIN,
    RECIPES,
    REFERENCE,
    Group,
    Recipe,
    check_summary_suite,
    extra_tests,
    suite_groups,
)
from .summary import summary_text

PROG = "rope-blocks zoo"


@dataclass(frozen=True)
class Zoo:
    """What one zoo command trains, and how."""

    suite: str
    groups: tuple[Group, ...]
    out: Path
    recipe: Recipe = RECIPES["digits"]
    jobs: int = 2  # runs trained at once, one CPU thread each
    data_path: str | None = None  # where the data sets that are read from files live (default: the trainer's)

    @property
    def summary_path(self) -> Path:
        return self.out / "results" / self.suite / "summary.json"


def run_zoo(zoo: Zoo, command: str) -> int:
    """Train (or read back) every run, then write the summary; 1 when a run failed."""
    provenance.check_writable(zoo.out)
    check_summary_suite(zoo.summary_path, zoo.suite)
    runs = [(name, seed, g) for g in zoo.groups for name in g.models for seed in g.seeds]
    n_models = sum(len(g.models) for g in zoo.groups)
    print(
        f"{PROG}: suite {zoo.suite}, {n_models} models, {len(runs)} runs, {zoo.jobs} at a time; "
        f"outputs under {zoo.out.resolve()}"
    )
    t0 = time.perf_counter()
    rows, failures = [], []
    with contextlib.ExitStack() as stack:
        if zoo.jobs == 1:
            outcomes = (run_one(*run, zoo) for run in runs)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(zoo.jobs, mp_context=get_context("spawn")))
            outcomes = pool.map(run_one, *zip(*runs), [zoo] * len(runs))
        for (name, seed, _), outcome in zip(runs, outcomes):
            if "error" in outcome:
                failures.append(outcome)
                print(f"  FAILED {name} seed {seed}: {outcome['error']}", flush=True)
            else:
                rows.append(outcome)
                scores = "".join(f", {k} {v:.4f}" for k, v in outcome["extra_acc"].items())
                print(
                    f"  {name} seed {seed}: test {outcome['test_acc']:.4f}{scores}"
                    f"{' (already trained)' if outcome['reused'] else ''}",
                    flush=True,
                )
    seconds = time.perf_counter() - t0
    write_summary(zoo, command, rows, failures, seconds)
    return 1 if failures else 0


def write_summary(zoo: Zoo, command: str, rows: list[dict], failures: list[dict], seconds: float) -> None:
    # Only the suite's own groups get the full analysis (probes: the minutes-long head-level fit).
    analysis = analyse(zoo.suite, rows, list(zoo.groups) != suite_groups(zoo.suite, quick=False), failures)
    text = summary_text(zoo.suite, rows, list(zoo.groups), analysis)
    print("\n" + text)
    device = provenance.device_description(processes=zoo.jobs, threads=1) + ", one run per process"
    header = {
        "suite": zoo.suite,
        **provenance.header(command, device),
        "wall_seconds": round(seconds),
        **asdict(zoo.recipe),
        "groups": [
            {"dataset": g.dataset, "models": list(g.models), "seeds": list(g.seeds), "epochs": g.epochs}
            | ({"max_images": g.max_images} if g.max_images else {})
            | ({"lr": g.lr} if g.lr else {})
            for g in zoo.groups
        ],
    }
    provenance.write_json({**header, **analysis, "runs": rows, "failures": failures}, zoo.summary_path)
    lines = "\n".join(f"- {k}: {v}" for k, v in header.items() if k != "groups")
    provenance.write_text(f"# {zoo.suite} zoo\n\n{lines}\n\n{text}\n", zoo.summary_path.with_suffix(".md"))
    print(f"\n{len(rows)} runs in {seconds:.0f} s; tables in {zoo.summary_path.with_suffix('.md')}")


def run_one(name: str, seed: int, group: Group, zoo: Zoo) -> dict:
    """Train one run of the zoo (or read it back when it finished before) and score its extra tests."""
    torch.set_num_threads(1)
    dataset = group.dataset
    cfg = TrainConfig(
        model=name,
        dataset=dataset,
        epochs=group.epochs,
        batch_size=zoo.recipe.batch_size,
        lr=group.lr or zoo.recipe.lr,
        warmup_epochs=zoo.recipe.warmup_epochs,
        amp=zoo.recipe.amp,
        select=zoo.recipe.select,
        seed=seed,
        run_id=f"{name}_seed{seed}",
        num_workers=0,
        out=str(zoo.out),
        progress=False,
        resume="auto",
        max_images=group.max_images,
        **({"data_path": zoo.data_path} if zoo.data_path else {}),
    )
    cfg.command = command_line(cfg)
    run_dir, result_path = run_paths(cfg)
    splits = trainer.load_splits(cfg)  # once per run: training, then the extra tests
    reused = _finished(result_path, cfg)
    if not reused:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "train.log", "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                launch.validate(cfg, 1, splits)
                trainer.run(cfg, splits)
            except ValueError as e:
                print(f"rope-blocks train: error: {e}")
                return {"model": name, "seed": seed, "error": str(e)}
    result = json.loads(result_path.read_text())
    try:
        scores = _best_scores(result, result_path, run_dir / "best.pt", extra_tests(dataset, seed, splits), splits)
    except ValueError as e:
        return {"model": name, "seed": seed, "error": str(e)}
    return {
        "model": name,
        "seed": seed,
        "dataset": dataset,
        "run_id": cfg.run_id,
        "reused": reused,
        "identity": ModelId.parse(name).fields(),
        "best_epoch": result["best"]["epoch"],
        "val_acc": result["best"]["val_acc"],
        "test_acc": result["best"]["test_acc"],
        **scores,
        "parameters": result["parameters"],
        "encoding_parameters": result["encoding_parameters"],
        "relative_by_theory": result["relative_by_theory"],
        "relative_error": max(result["relative_error"]) if result["relative_error"] else None,
        "train_seconds": sum(h["train_seconds"] for h in result["history"]),
    }


RECIPE_FIELDS = ("model", "epochs", "batch_size", "lr", "warmup_epochs", "amp", "select", "seed", "max_images")


def _finished(result_path: Path, cfg: TrainConfig) -> bool:
    """A finished run with these settings; any other earlier run is the trainer's to resume or refuse."""
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        return False
    same = all(saved_setting(result["config"], k) == getattr(cfg, k) for k in RECIPE_FIELDS)
    return result.get("finished", False) and same


def _best_scores(result: dict, result_path: Path, best: Path, tests: dict[str, ExtraTest], splits) -> dict:
    """What the zoo scores on a run's best checkpoint, kept in the run's result file once scored: the accuracy on
    each extra test; for a relative design the export's logit error (``export.export_error``: theory T5 on
    the trained model); for a task with paired tests (probes.PAIRED) how far apart the logits of the pair
    are (``evaluation.pair_error``). Scores kept with another recipe (``scored_with``: other test images,
    sizes, positions, precision or export sample), or from before they were kept, are made again from the
    best checkpoint."""
    pair = probes.PAIRED.get(result["dataset"])
    wanted = {
        "extra_acc": bool(tests),
        "export_error": bool(result["relative_by_theory"]),
        "pair_error": pair is not None and set(pair) <= set(tests),
    }
    amp = result["config"].get("amp", False)
    spec = _score_spec(tests, amp, wanted)
    kept = dict.fromkeys(wanted) | {"extra_acc": {}} | {k: result[k] for k in wanted if k in result}
    if not any(wanted.values()) or result.get("scored_with") == spec:
        return kept
    if not best.is_file():
        raise ValueError(f"{best} is missing, so the run cannot be scored; delete {result_path} to train it again")
    model = checkpoint.load_run(best)[1]
    if wanted["extra_acc"]:
        kept["extra_acc"] = {name: evaluation.accuracy(model, test, splits, amp) for name, test in tests.items()}
    if wanted["export_error"]:
        kept["export_error"] = export.export_error(model, splits)
    if wanted["pair_error"]:
        kept["pair_error"] = evaluation.pair_error(model, tests[pair[0]], tests[pair[1]], splits)
    scores = {k: kept[k] for k, want in wanted.items() if want}
    provenance.write_json({**result, **scores, "scored_with": spec}, result_path)
    return kept


def _score_spec(tests: dict[str, ExtraTest], amp: bool, wanted: dict) -> dict:
    """How a run's scores are made, kept beside them: scores made another way (other images, sizes,
    positions or precision, another export sample) are made again."""
    return {
        "amp": amp,
        "tests": {
            name: [zlib.crc32(t.images.numpy().tobytes()), zlib.crc32(t.labels.numpy().tobytes()), t.size, t.positions]
            for name, t in tests.items()
        },
        "export_images": export.EXPORT_IMAGES if wanted["export_error"] else None,
        "pair_precision": "float64" if wanted["pair_error"] else None,
    }


def analyse(suite: str, rows: list[dict], quick: bool = False, failures: list[dict] = ()) -> dict:
    """digits, fashion: every model against RoPE-Mixed; probes: the predictions' bounds, head-level checks and
    intervals (analyse_probes)."""
    if suite == "fashion":
        done = [stats.compare(rows, c) for c in fashion_suite.comparisons()]
        reference = fashion_suite.names((fashion_suite.REFERENCE,))[0]
        present = {r["model"] for r in rows}
        done = [c for c in done if c["a"][0] in present] if reference in present else []
        return {
            "design": fashion_suite.design(),
            "equivalence": {"reference": reference, "margin": fashion_suite.MARGIN, "comparisons": done},
        }
    if suite == "digits":
        others = dict.fromkeys(r["model"] for r in rows if ModelId.parse(r["model"]).size == "matched_digits")
        if REFERENCE not in others:  # nothing to compare with
            others = {}
        others.pop(REFERENCE, None)
        comparisons = [
            stats.compare(
                rows,
                stats.Comparison(
                    f"{name} is within {EQUIVALENCE_MARGIN} of {REFERENCE}",
                    stats.Side((name,)),
                    stats.Side((REFERENCE,)),
                    "equivalent",
                    EQUIVALENCE_MARGIN,
                ),
            )
            for name in others
        ]
        return {"equivalence": {"reference": REFERENCE, "margin": EQUIVALENCE_MARGIN, "comparisons": comparisons}}
    return analyse_probes(rows, quick, failures)


@functools.cache  # deterministic, and minutes long at the record's settings
def _head_fit(quick: bool) -> dict:
    if quick:
        return head_fit.table(probe_suite.QUICK_HEAD_FIT, starts=1, steps=probe_suite.QUICK_HEAD_FIT_STEPS)
    return head_fit.table(probe_suite.HEAD_FIT_VARIANTS, starts=probe_suite.HEAD_FIT_STARTS)


def analyse_probes(rows: list[dict], quick: bool, failures: list[dict] = ()) -> dict:
    """The probe suite's predictions (training/probe_suite.py): the exact bounds and the head-level checks give
    verdicts; the measured intervals have none. ``quick``: the head-level fit with one short start (a quick or
    partial suite), said in the summary."""
    bounds, estimates = probe_suite.bounds(), probe_suite.estimates()
    fit = {**_head_fit(quick), "quick": quick}
    predictions = {}
    for pid, statement in probe_suite.STATEMENTS.items():
        exact = [stats.check_bound(rows, b, sum(f["model"] in b.models for f in failures)) for b in bounds.get(pid, [])]
        checks = exact + (fit["checks"] if pid == "P2" else [])
        predictions[pid] = {
            "statement": statement,
            "verdict": stats.combine(c["verdict"] for c in checks),
            "bounds": exact,
            **({"head_fit": fit} if pid == "P2" else {}),
            "estimates": [stats.estimate(rows, e) for e in estimates.get(pid, [])],
        }
    return {"design": probe_suite.design(), "predictions": predictions}
