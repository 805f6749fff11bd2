"""`rope-blocks zoo`: train the model comparison on the offline digits and tabulate it.

Every run is an ordinary `rope-blocks train` run (its own checkpoints and result file),
so an interrupted zoo picks up where it stopped and finished runs are never trained
twice. Two experiments, each scored with the best checkpoint (chosen on validation):

* the comparison: the seed's rows, the new families and the matched-width suite,
  trained on the 8x8 digits and tested on them; each is also tested on the test digits
  pasted at random offsets into a 16x16 canvas, a grid with four times the tokens
  (the absolute embedding of the baseline is resized to it);
* the translation test: one model per family (`digits_canvas` size) trained on the
  digits at the centre of a 16x16 canvas and tested with the test digits moved to
  random offsets in the same canvas, whole patches or any pixels: the token count
  stays the same, only the content moves.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from . import checkpoint, data, main as trainer, models
from .vit import ViT, ViTConfig

PROG = "rope-blocks zoo"
# One model per family (and both commuting designs), all at the matched width.
QUICK_VARIANTS = ["no_rope", "rope_2D_axial_2x2", "mixed_rope_2D_2x2", "rope_2D_axial_3x3_0",
                  "weighted_rope_2D_axial_3x3", "commuting_axial_rope_2D_4x4", "commuting_mixed_rope_2D_4x4",
                  "liere_rope_2D_4x4"]


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="digits", choices=("digits",),
                   help="the offline comparison (CIFAR: see the README's torchrun commands); models of "
                        "the digits_canvas size train on digits_canvas")
    p.add_argument("--quick", action="store_true",
                   help=f"{len(QUICK_VARIANTS)} models (one per family, matched width) and the translation "
                        "test, one seed, few epochs")
    p.add_argument("--models", nargs="+", default=None, help="train these registered models instead")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="default 0 1 2 (quick: 0)")
    p.add_argument("--epochs", type=int, default=None, help="default 30 (quick: 8)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once, one CPU thread each")
    p.add_argument("--out", default=None, help="root of runs/ and results/ (default: . ; quick: runs/zoo-quick)")
    args = p.parse_args(argv)
    if args.models is None:
        translation = [f"vit_{v}_digits_canvas" for v in QUICK_VARIANTS]
        args.models = ([f"vit_{v}_matched_digits" for v in QUICK_VARIANTS] if args.quick
                       else models.model_names("digits") + models.model_names("matched_digits")) + translation
    args.seeds = args.seeds if args.seeds is not None else [0] if args.quick else [0, 1, 2]
    args.epochs = args.epochs if args.epochs is not None else 8 if args.quick else 30
    args.out = args.out if args.out is not None else "runs/zoo-quick" if args.quick else "."
    for name in args.models:
        models.check_name(name)
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}.")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(argv)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    runs = [(name, seed) for name in args.models for seed in args.seeds]
    print(f"{PROG}: {len(args.models)} models x {len(args.seeds)} seeds, {args.epochs} epochs each, "
          f"{args.jobs} at a time; outputs under {Path(args.out).resolve()}")
    t0 = time.perf_counter()
    rows, failures = [], []
    with contextlib.ExitStack() as stack:
        if args.jobs == 1:
            outcomes = (_run_one(name, seed, args) for name, seed in runs)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")))
            outcomes = pool.map(_run_one, *zip(*runs), [args] * len(runs))
        for (name, seed), outcome in zip(runs, outcomes):
            if "error" in outcome:
                failures.append(outcome)
                print(f"  FAILED {name} seed {seed}: {outcome['error']}", flush=True)
            else:
                rows.append(outcome)
                scores = ", ".join(f"{k} {v:.4f}" for k, v in outcome["moved_acc"].items())
                print(f"  {name} seed {seed}: test {outcome['test_acc']:.4f}, {scores}"
                      f"{' (already trained)' if outcome['reused'] else ''}", flush=True)
    seconds = time.perf_counter() - t0
    table = summary_tables(rows, args.models)
    print("\n" + table)
    results = Path(args.out) / "results" / args.dataset
    header = {"command": shlex.join(["rope-blocks", "zoo", *argv]), "commit": trainer.git_commit(),
              "device": f"CPU ({os.cpu_count()} cores, {platform.machine()}), {args.jobs} run(s) at a time, "
                        "1 thread each",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "wall_seconds": round(seconds), "epochs": args.epochs, "seeds": args.seeds,
              "batch_size": args.batch_size, "lr": args.lr, "canvas": data.CANVAS}
    checkpoint.write_json({**header, "runs": rows, "failures": failures}, results / "summary.json")
    text = "\n".join(f"- {k}: {v}" for k, v in header.items())
    (results / "summary.md").write_text(f"# {args.dataset} zoo\n\n{text}\n\n{table}\n")
    print(f"\n{len(rows)} runs in {seconds:.0f} s; table in {results / 'summary.md'}")
    return 1 if failures else 0


def _run_one(name: str, seed: int, args) -> dict:
    torch.set_num_threads(1)
    run_id = f"{name}_seed{seed}"
    dataset = training_set(name)
    cfg_argv = ["--model", name, "--dataset", dataset, "--epochs", str(args.epochs),
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
    digits = data.load("digits")
    splits = digits if dataset == "digits" else data.load(dataset)
    model = load_model(run_dir / "best.pt")
    moved = MOVES[dataset]
    return {"model": name, "seed": seed, "run_id": run_id, "reused": reused,
            "best_epoch": result["best"]["epoch"], "val_acc": result["best"]["val_acc"],
            "test_acc": result["best"]["test_acc"],
            "moved_acc": {k: accuracy(model, data.place_on_canvas(digits.test.images, data.CANVAS, seed=0, step=step),
                                      splits.test.labels, splits) for k, step in moved.items()},
            "parameters": result["parameters"], "encoding_parameters": result["encoding_parameters"],
            "relative_by_theory": result["relative_by_theory"],
            "relative_error": max(result["relative_error"]) if result["relative_error"] else None,
            "train_seconds": sum(h["train_seconds"] for h in result["history"])}


# How each training set's test digits are moved: name -> step of the random offsets in the canvas.
MOVES = {"digits": {"16x16 canvas": 1},
         "digits_canvas": {"shifted by whole patches": 2, "shifted by any pixels": 1}}


def training_set(name: str) -> str:
    return "digits_canvas" if models.size_of(name) == "digits_canvas" else "digits"


def _finished(result_path: Path, cfg: trainer.TrainConfig) -> bool:
    """A finished run with these settings; any other earlier run is the trainer's to resume or refuse."""
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        return False
    same = all(result["config"].get(k) == getattr(cfg, k) for k in ("model", "epochs", "batch_size", "lr", "seed"))
    return result.get("finished", False) and same


def load_model(path: Path) -> ViT:
    state = checkpoint.load(path)
    model = ViT(ViTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()


def accuracy(model: ViT, images: torch.Tensor, labels: torch.Tensor, splits: data.Splits) -> float:
    loader = DataLoader(data.ImageTensors(images, labels), batch_size=256)
    return trainer.evaluate(model, loader, splits.prepare, torch.device("cpu"), amp=False)[1]


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} +- {std:.4f}"


def summary_tables(rows: list[dict], order: list[str]) -> str:
    """One markdown table per training set: mean +- std over seeds of every score."""
    tables = []
    for dataset, moves in MOVES.items():
        names = [n for n in order if training_set(n) == dataset and any(r["model"] == n for r in rows)]
        if not names:
            continue
        test = "test acc" if dataset == "digits" else "centred test acc"
        lines = [f"| model | seeds | {test} | {' | '.join(f'{m} acc' for m in moves)} | params "
                 "| encoding params | relative (theory) | measured relative error |",
                 "| --- " * (7 + len(moves)) + "|"]
        for name in names:
            mine = [r for r in rows if r["model"] == name]
            rel = mine[0]["relative_by_theory"]
            errors = [r["relative_error"] for r in mine if r["relative_error"] is not None]
            moved = " | ".join(_mean_std(r["moved_acc"][m] for r in mine) for m in moves)
            lines.append(
                f"| {name} | {len(mine)} | {_mean_std(r['test_acc'] for r in mine)} | {moved} "
                f"| {mine[0]['parameters']:,} | {mine[0]['encoding_parameters']:,} "
                f"| {'-' if rel is None else 'yes' if rel else 'no'} | {f'{max(errors):.1e}' if errors else '-'} |")
        tables.append(f"Trained on {dataset}:\n\n" + "\n".join(lines))
    return "\n\n".join(tables)


if __name__ == "__main__":
    sys.exit(main())
