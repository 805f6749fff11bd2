"""Start a training run: check it, then run it in this process, under torchrun, or in N local processes.

Under torchrun the process group comes from env:// (gloo on CPU, nccl on CUDA); ``distributed``
with ``world_size`` N and no torchrun starts N local workers itself. Every check that can fail
before training raises ValueError with a message that names the fix.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import torch

from records import provenance

from . import data, distributed, models
from .config import TrainConfig, run_paths
from .trainer import load_splits, run


def launch(cfg: TrainConfig, on_error=None) -> int:
    """Check ``cfg`` and train it; the exit code (0 when every process finished).

    on_error(message) reports a ValueError raised inside a spawned process (rank 0 only; default:
    printed to stderr); errors in this process are raised.
    """
    env = distributed.torchrun_env()
    if env is not None:
        rank, local_rank, world = env
        return _worker(rank, world, cfg, local_rank, validate(cfg, world))
    world = cfg.world_size if cfg.distributed and cfg.world_size else 1
    splits = validate(cfg, world)
    if world == 1:
        return _worker(0, 1, cfg, 0, splits)
    codes = distributed.spawn(_spawned, world, (cfg, on_error or _print_error))
    return next((c for c in codes if c), 0)


def _worker(rank: int, world: int, cfg: TrainConfig, local_rank: int, splits: data.Splits | None = None) -> int:
    """One process of the run; returns its exit code."""
    device = torch.device("cuda", local_rank) if cfg.cuda else torch.device("cpu")
    if cfg.cuda:
        torch.cuda.set_device(device)
    distributed.init(rank, world, cfg.cuda)
    try:
        run(cfg, splits, rank, world, device)
    finally:
        distributed.close()
    return 0


def _spawned(rank: int, world: int, cfg: TrainConfig, on_error) -> None:
    if not cfg.cuda:  # the workers share the machine's cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        _worker(rank, world, cfg, rank)
    except ValueError as e:
        if rank == 0 and on_error is not None:
            on_error(str(e))
        raise SystemExit(2) from None


def _print_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def validate(cfg: TrainConfig, world: int, splits: data.Splits | None = None) -> data.Splits:
    """Every check that can fail before training starts; returns the data set (loaded unless given)."""
    models.check_name(cfg.model)
    for name in ("epochs", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}.")
    if cfg.lr <= 0 or not math.isfinite(cfg.lr):
        raise ValueError(f"--lr must be a positive number, got {cfg.lr}.")
    if cfg.max_images is not None and cfg.max_images < 1:
        raise ValueError(f"--max-images must be at least 1, got {cfg.max_images}.")
    if cfg.input_size is not None and cfg.input_size < 1:
        raise ValueError(f"--input-size must be positive, got {cfg.input_size}.")
    if cfg.world_size is not None and cfg.world_size < 1:
        raise ValueError(f"--world-size must be at least 1, got {cfg.world_size}.")
    _check_processes(cfg, world)
    if cfg.resume and cfg.overwrite:
        raise ValueError("--resume and --overwrite contradict each other; pass one of them.")
    splits = splits if splits is not None else load_splits(cfg)
    if cfg.batch_size * world > len(splits.train):
        raise ValueError(
            f"--batch-size {cfg.batch_size} x {world} process(es) is larger than the "
            f"{len(splits.train)} training images of {cfg.dataset}; use --batch-size "
            f"{max(1, len(splits.train) // world)} or less."
        )
    _check_outputs(cfg)
    return splits


def _check_processes(cfg: TrainConfig, world: int) -> None:
    if distributed.torchrun_env() is not None:
        if cfg.world_size not in (None, world):
            raise ValueError(
                f"--world-size {cfg.world_size} disagrees with torchrun's {world} processes; "
                "leave --world-size out under torchrun."
            )
    elif (cfg.world_size or 1) > 1 and not cfg.distributed:
        raise ValueError(f"--world-size {cfg.world_size} needs --distributed (or start the run with torchrun).")
    if cfg.cuda:
        if not torch.cuda.is_available():
            raise ValueError(
                "--cuda was given but no CUDA GPU is available to torch "
                f"(torch {torch.__version__}); leave out --cuda to train on the CPU."
            )
        # Processes on this machine: all of them, or under torchrun its --nproc_per_node.
        local = world if distributed.torchrun_env() is None else int(os.environ.get("LOCAL_WORLD_SIZE", world))
        if local > torch.cuda.device_count():
            raise ValueError(
                f"{local} processes on this machine but only {torch.cuda.device_count()} CUDA GPUs; "
                f"use --world-size (or torchrun --nproc_per_node) {torch.cuda.device_count()} or fewer."
            )
    elif world > (os.cpu_count() or 1):
        raise ValueError(
            f"--world-size {world} is larger than the {os.cpu_count()} CPU cores here; "
            f"use --world-size {os.cpu_count()} or fewer."
        )


def _check_outputs(cfg: TrainConfig) -> None:
    run_dir, result_path = run_paths(cfg)
    existing = [
        str(p) for p in (run_dir / "last.pt", run_dir / "best.pt", run_dir / "metrics.jsonl", result_path) if p.exists()
    ]
    if existing and not (cfg.resume or cfg.overwrite):
        raise ValueError(
            f"run '{cfg.run_id}' already has outputs ({', '.join(existing)}); pass --resume to "
            "continue it, --overwrite to replace it, or choose another --run-id."
        )
    if cfg.resume == "auto" and existing and not (run_dir / "last.pt").exists():
        raise ValueError(
            f"--resume found no checkpoint in {run_dir} but earlier outputs exist "
            f"({', '.join(existing)}); pass --resume CHECKPOINT or --overwrite."
        )
    if cfg.resume not in (None, "auto") and not Path(cfg.resume).is_file():
        raise ValueError(f"--resume {cfg.resume}: no such checkpoint file.")
    provenance.check_writable(Path(cfg.out))
