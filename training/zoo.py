"""`rope-blocks zoo`: train a suite of models on offline data and tabulate it.

Every run is an ordinary `rope-blocks train` run (its own checkpoints and result file),
so an interrupted zoo picks up where it stopped and finished runs are never trained
twice. Each run is scored with its best checkpoint (chosen on validation). Two suites:

* `digits`: the seed's rows and the new families on scikit-learn's 8x8 digits, at the
  digits size (3 seeds) and at one matched width (5 seeds), where every model is also
  compared with RoPE-Mixed: a paired difference with its 95% interval, and an
  equivalence verdict with a margin of EQUIVALENCE_MARGIN;
* `probes`: the generated probe tasks of training/probes.py (5 seeds, paired), with the
  verdicts of the predictions P1-P3 that the tasks test (training/probes.py: PREDICTIONS).

The summary goes to results/<suite>/summary.{json,md} under --out.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from . import checkpoint, data, main as trainer, models, probes, stats
from .vit import ViT

PROG = "rope-blocks zoo"
SUITES = ("digits", "probes")
# One model per family (and both commuting designs), all at the matched width.
QUICK_VARIANTS = ["no_rope", "rope_2D_axial_2x2", "mixed_rope_2D_2x2", "rope_2D_axial_3x3_0",
                  "weighted_rope_2D_axial_3x3", "commuting_axial_rope_2D_4x4", "commuting_mixed_rope_2D_4x4",
                  "liere_rope_2D_4x4"]
QUICK_PROBE_VARIANTS = ["no_rope", "rope_2D_axial_2x2", "mixed_rope_2D_2x2"]
REFERENCE = "vit_mixed_rope_2D_2x2_matched_digits"  # the digits suite's equivalence reference
EQUIVALENCE_MARGIN = 0.03


@dataclass(frozen=True)
class Group:
    """Models trained on one data set with the same seeds and epochs."""
    dataset: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int


def suite_groups(suite: str, quick: bool) -> list[Group]:
    if suite == "digits":
        if quick:
            return [Group("digits", tuple(f"vit_{v}_matched_digits" for v in QUICK_VARIANTS), (0,), 8)]
        return [Group("digits", tuple(models.model_names("digits")), (0, 1, 2), 30),
                Group("digits", tuple(models.model_names("matched_digits")), (0, 1, 2, 3, 4), 30)]
    groups = []
    for size, (task, variants, epochs) in probes.SUITE.items():
        names = [f"vit_{v}_{size}" for v in (QUICK_PROBE_VARIANTS if quick else variants)]
        groups.append(Group(task, tuple(names), (0,) if quick else probes.SEEDS, 2 if quick else epochs))
    return groups


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--suite", default="digits", choices=SUITES,
                   help="digits: the model comparison on the 8x8 digits; probes: the generated probe tasks "
                        "and the verdicts of predictions P1-P3")
    p.add_argument("--quick", action="store_true",
                   help="a few models, one seed, few epochs (digits: one model per family; probes: "
                        f"{', '.join(QUICK_PROBE_VARIANTS)} on every task)")
    p.add_argument("--models", nargs="+", default=None,
                   help="train these registered models instead (each on the data set its size trains on)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="override every group's seeds")
    p.add_argument("--epochs", type=int, default=None, help="override every group's epochs")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once, one CPU thread each")
    p.add_argument("--out", default=None,
                   help="root of runs/ and results/ (default: . ; quick: runs/zoo-quick-<suite>)")
    args = p.parse_args(argv)
    for name in args.models or []:
        models.check_name(name)
        dataset = training_set(name)
        if dataset is None or (args.suite == "probes") != (dataset in probes.TASKS):
            hint = "the size of no suite" if dataset is None else \
                f"for --suite {'probes' if dataset in probes.TASKS else 'digits'}"
            raise ValueError(f"model {name} is not one of the {args.suite} suite's sizes ({hint}); pass a model "
                             f"of the sizes {', '.join(suite_sizes(args.suite))}.")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}.")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}.")
    groups = suite_groups(args.suite, args.quick)
    if args.models is not None:
        # Each model trains with the seeds and epochs of the suite's group of its size (--quick: the quick ones).
        defaults = {models.size_of(g.models[0]): g for g in suite_groups(args.suite, quick=False)}
        quick = groups[0]
        sizes = dict.fromkeys(models.size_of(m) for m in args.models)
        groups = [Group(defaults[z].dataset, tuple(m for m in args.models if models.size_of(m) == z),
                        quick.seeds if args.quick else defaults[z].seeds,
                        quick.epochs if args.quick else defaults[z].epochs) for z in sizes]
    args.groups = [Group(g.dataset, g.models, tuple(args.seeds) if args.seeds is not None else g.seeds,
                         args.epochs or g.epochs) for g in groups]
    args.out = args.out if args.out is not None else f"runs/zoo-quick-{args.suite}" if args.quick else "."
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(argv)
        summary_path = Path(args.out) / "results" / args.suite / "summary.json"
        check_summary_suite(summary_path, args.suite)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    runs = [(name, seed, g.dataset, g.epochs) for g in args.groups for name in g.models for seed in g.seeds]
    n_models = sum(len(g.models) for g in args.groups)
    print(f"{PROG}: suite {args.suite}, {n_models} models, {len(runs)} runs, {args.jobs} at a time; "
          f"outputs under {Path(args.out).resolve()}")
    t0 = time.perf_counter()
    rows, failures = [], []
    with contextlib.ExitStack() as stack:
        if args.jobs == 1:
            outcomes = (_run_one(*run, args) for run in runs)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")))
            outcomes = pool.map(_run_one, *zip(*runs), [args] * len(runs))
        for (name, seed, _, _), outcome in zip(runs, outcomes):
            if "error" in outcome:
                failures.append(outcome)
                print(f"  FAILED {name} seed {seed}: {outcome['error']}", flush=True)
            else:
                rows.append(outcome)
                scores = "".join(f", {k} {v:.4f}" for k, v in outcome["extra_acc"].items())
                print(f"  {name} seed {seed}: test {outcome['test_acc']:.4f}{scores}"
                      f"{' (already trained)' if outcome['reused'] else ''}", flush=True)
    seconds = time.perf_counter() - t0
    analysis = analyse(args.suite, rows)
    text = summary_text(args.suite, rows, args.groups, analysis)
    print("\n" + text)
    header = {"suite": args.suite, "command": shlex.join(["rope-blocks", "zoo", *argv]),
              "commit": trainer.git_commit(),
              "device": f"CPU ({os.cpu_count()} cores, {platform.machine()}), {args.jobs} run(s) at a time, "
                        "1 thread each",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "wall_seconds": round(seconds), "batch_size": args.batch_size, "lr": args.lr,
              "groups": [{"dataset": g.dataset, "models": list(g.models), "seeds": list(g.seeds), "epochs": g.epochs}
                         for g in args.groups]}
    checkpoint.write_json({**header, **analysis, "runs": rows, "failures": failures}, summary_path)
    lines = "\n".join(f"- {k}: {v}" for k, v in header.items() if k != "groups")
    summary_path.with_suffix(".md").write_text(f"# {args.suite} zoo\n\n{lines}\n\n{text}\n")
    print(f"\n{len(rows)} runs in {seconds:.0f} s; tables in {summary_path.with_suffix('.md')}")
    return 1 if failures else 0


def check_summary_suite(path: Path, suite: str) -> None:
    """Refuse to write one suite's summary over another's."""
    try:
        earlier = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} exists but cannot be read ({e}); move it away or pass another --out.") from None
    # Summaries from before the probes suite carry no suite name: they are the digits suite's.
    if earlier.get("suite", "digits") != suite:
        raise ValueError(f"{path} holds the summary of another suite ({earlier.get('suite', 'digits')!r}, made by "
                         f"{earlier.get('command', 'an unknown command')!r}); it was left as it is. Pass another "
                         "--out for this suite.")


def _run_one(name: str, seed: int, dataset: str, epochs: int, args) -> dict:
    torch.set_num_threads(1)
    run_id = f"{name}_seed{seed}"
    cfg_argv = ["--model", name, "--dataset", dataset, "--epochs", str(epochs),
                "--batch_size", str(args.batch_size), "--lr", str(args.lr), "--seed", str(seed),
                "--run_id", run_id, "--num_workers", "0", "--out", args.out, "--no_progress"]
    cfg = trainer.parse_args(cfg_argv)
    run_dir, result_path = trainer.run_paths(cfg)
    reused = _finished(result_path, cfg)
    if not reused:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "train.log", "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = trainer.main([*cfg_argv, "--resume"])
        if code != 0:
            last = (run_dir / "train.log").read_text().strip().splitlines()[-1:]
            return {"model": name, "seed": seed, "error": last[0] if last else f"exit code {code}"}
    result = json.loads(result_path.read_text())
    extra = probes.extra_tests(dataset, seed) if dataset in probes.TASKS else {}
    extra_acc = {}
    if extra:
        if not (run_dir / "best.pt").is_file():
            return {"model": name, "seed": seed,
                    "error": f"{run_dir / 'best.pt'} is missing, so its extra tests cannot be scored; "
                             f"delete {result_path} to train the run again"}
        model, splits = checkpoint.load_run(run_dir / "best.pt")[1], data.load(dataset, seed=seed)
        extra_acc = {test: accuracy(model, images, labels, splits) for test, (images, labels) in extra.items()}
    return {"model": name, "seed": seed, "dataset": dataset, "run_id": run_id, "reused": reused,
            "best_epoch": result["best"]["epoch"], "val_acc": result["best"]["val_acc"],
            "test_acc": result["best"]["test_acc"], "extra_acc": extra_acc,
            "parameters": result["parameters"], "encoding_parameters": result["encoding_parameters"],
            "relative_by_theory": result["relative_by_theory"],
            "relative_error": max(result["relative_error"]) if result["relative_error"] else None,
            "train_seconds": sum(h["train_seconds"] for h in result["history"])}


def training_set(name: str) -> str | None:
    """The data set a registered model trains on in the zoo (None: a CIFAR size)."""
    size = models.size_of(name)
    if size in ("digits", "matched_digits"):
        return "digits"
    return probes.SUITE[size][0] if size in probes.SUITE else None


def suite_sizes(suite: str) -> list[str]:
    return ["digits", "matched_digits"] if suite == "digits" else list(probes.SUITE)


def _finished(result_path: Path, cfg: trainer.TrainConfig) -> bool:
    """A finished run with these settings; any other earlier run is the trainer's to resume or refuse."""
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        return False
    same = all(result["config"].get(k) == getattr(cfg, k) for k in ("model", "epochs", "batch_size", "lr", "seed"))
    return result.get("finished", False) and same


def accuracy(model: ViT, images: torch.Tensor, labels: torch.Tensor, splits: data.Splits) -> float:
    loader = DataLoader(data.ImageTensors(images, labels), batch_size=256)
    return trainer.evaluate(model, loader, splits.prepare, torch.device("cpu"), amp=False)[1]


def fmt_ci(values) -> str:
    """'mean [low, high]' (95% interval over seeds); the mean alone for one seed."""
    mean, low, high = stats.mean_ci(values)
    return f"{mean:.4f}" if math.isnan(low) else f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def fmt_difference(c: dict) -> str:
    if c["difference"] is None:
        return "-"
    ci = "" if c["ci"] is None else f" [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]"
    return f"{c['difference']:+.4f}{ci}"


def analyse(suite: str, rows: list[dict]) -> dict:
    """digits: every matched model against RoPE-Mixed; probes: the predictions' comparisons and verdicts."""
    if suite == "digits":
        others = dict.fromkeys(r["model"] for r in rows if models.size_of(r["model"]) == "matched_digits")
        if REFERENCE not in others:  # nothing to compare with
            others = {}
        others.pop(REFERENCE, None)
        comparisons = [stats.compare(rows, stats.Comparison(
            f"{name} is within {EQUIVALENCE_MARGIN} of {REFERENCE}", stats.Side((name,)), stats.Side((REFERENCE,)),
            "equivalent", EQUIVALENCE_MARGIN)) for name in others]
        return {"equivalence": {"reference": REFERENCE, "margin": EQUIVALENCE_MARGIN, "comparisons": comparisons}}
    predictions = {}
    for pid, (statement, comparisons) in probes.PREDICTIONS.items():
        done = [stats.compare(rows, c) for c in comparisons]
        predictions[pid] = {"statement": statement, "verdict": stats.combine(c["verdict"] for c in done),
                            "comparisons": done}
    return {"predictions": predictions}


def summary_text(suite: str, rows: list[dict], groups: list[Group], analysis: dict) -> str:
    """Markdown: a table per group (mean and 95% interval over seeds), then the analysis."""
    parts = []
    for g in groups:
        mine = {name: [r for r in rows if r["model"] == name and r["seed"] in g.seeds] for name in g.models}
        mine = {name: runs for name, runs in mine.items() if runs}
        if not mine:
            continue
        tests = list(dict.fromkeys(t for runs in mine.values() for r in runs for t in r["extra_acc"]))
        lines = ["| model | seeds | test acc | " + "".join(f"{t} acc | " for t in tests)
                 + "params | encoding params | relative (theory) | measured relative error |",
                 "| --- " * (7 + len(tests)) + "|"]
        for name, runs in mine.items():
            rel = runs[0]["relative_by_theory"]
            errors = [r["relative_error"] for r in runs if r["relative_error"] is not None]
            extra = "".join(f"{fmt_ci(r['extra_acc'][t] for r in runs)} | " for t in tests)
            lines.append(f"| {name} | {len(runs)} | {fmt_ci(r['test_acc'] for r in runs)} | {extra}"
                         f"{runs[0]['parameters']:,} | {runs[0]['encoding_parameters']:,} "
                         f"| {'-' if rel is None else 'yes' if rel else 'no'} "
                         f"| {f'{max(errors):.1e}' if errors else '-'} |")
        parts.append(f"Size {models.size_of(g.models[0])}, trained on {g.dataset} for {g.epochs} epochs, seeds "
                     f"{', '.join(map(str, g.seeds))} (accuracy: mean [95% interval over seeds]):\n\n"
                     + "\n".join(lines))
    if "equivalence" in analysis and analysis["equivalence"]["comparisons"]:
        eq = analysis["equivalence"]
        lines = [f"Each matched model against {eq['reference']}: paired difference of test accuracy "
                 f"[95% interval over seeds]; equivalent when the interval lies within +-{eq['margin']}.", "",
                 "| model | difference | verdict |", "| --- | --- | --- |"]
        lines += [f"| {variant_name(c['a'][0])} | {fmt_difference(c)} | {_equivalence_words(c['verdict'])} |"
                  for c in eq["comparisons"]]
        parts.append("\n".join(lines))
    for pid, p in analysis.get("predictions", {}).items():
        lines = [f"{pid}: {p['statement']} Verdict: **{p['verdict']}**.", "",
                 "| claim | A | B | A - B [95% interval] | test | margin | verdict |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {c['claim']} | {_side(c['a'], c['a_test'])} | {_side(c['b'], c['b_test'])} "
                  f"| {fmt_difference(c)} | {c['kind']} | {c['margin']} | {c['verdict']} |" for c in p["comparisons"]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _side(names: list[str], test: str) -> str:
    return f"{', '.join(variant_name(n) for n in names)} ({test})"


def variant_name(name: str) -> str:
    """vit_<variant>_<size> -> <variant>."""
    return name.removeprefix("vit_").removesuffix(f"_{models.size_of(name)}")


def _equivalence_words(verdict: str) -> str:
    return {"holds": "equivalent", "fails": "differs", "undecided": "undecided"}[verdict]


if __name__ == "__main__":
    sys.exit(main())
