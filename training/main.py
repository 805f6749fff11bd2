"""Train one ViT: `rope-blocks train ...`, `python -m training.main ...` or under torchrun.

Accepts the seed's command lines verbatim (after the program name). Under torchrun the
process group comes from env:// (gloo on CPU, nccl on CUDA); `--distributed
--world_size N` without torchrun starts N local workers itself. Each epoch writes
runs/<dataset>/<run_id>/{last.pt,best.pt,metrics.jsonl} and results/<dataset>/<run_id>.json
under --out; `--resume` continues a killed run exactly where its last epoch ended.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

import rope_blocks as rb

from . import checkpoint, data, distributed, models
from .vit import ViT, ViTConfig

PROG = "rope-blocks train"


@dataclass
class TrainConfig:
    model: str = "vit_rope_2D_axial_2x2_cifar10"
    dataset: str = "cifar10"
    data_path: str = "data"
    input_size: int | None = None   # side the images are resized to; default the data set's own
    optimizer: str = "adamw"
    epochs: int = 25
    batch_size: int = 64            # per process, as in the seed
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    dropout: float | None = None    # default: the model's own
    seed: int = 0
    run_id: str | None = None       # default: the model name
    cuda: bool = False
    distributed: bool = False
    world_size: int | None = None
    num_workers: int = 2
    amp: bool | None = None         # bf16 autocast; default on with CUDA
    compile: bool = False
    resume: str | None = None       # "auto": runs/<dataset>/<run_id>/last.pt if any
    overwrite: bool = False
    out: str = "."
    progress: bool = True
    command: str = ""               # the command line, recorded in the result file


def parse_args(argv: list[str]) -> TrainConfig | None:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--model", default=d.model, help="a registered model name (see --list_models)")
    p.add_argument("--dataset", default=d.dataset, choices=data.DATASETS)
    p.add_argument("--data_path", default=d.data_path, help="folder holding (or receiving) the data set files")
    p.add_argument("--input_size", type=int, default=None,
                   help="resize images to this side (default: the data set's own, 32 for CIFAR; the seed's 36/40 "
                        "only sized its coordinate grid, so leave it out to train the seed's models on 32x32)")
    p.add_argument("--optimizer", default=d.optimizer, choices=("sgd", "adamw"))
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch_size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (cosine schedule with warmup)")
    p.add_argument("--weight_decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup_epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--dropout", type=float, default=None, help="override the model's dropout")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--run_id", default=None, help="names the outputs (default: the model name)")
    p.add_argument("--cuda", action="store_true", help="train on CUDA GPUs")
    p.add_argument("--distributed", action="store_true", help="start --world_size local processes (not needed under torchrun)")
    p.add_argument("--world_size", type=int, default=None)
    p.add_argument("--num_workers", type=int, default=d.num_workers, help="data loader processes")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on with --cuda, off on the CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                   help="continue the run from its last checkpoint (or from CHECKPOINT)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run with this --run_id")
    p.add_argument("--out", default=d.out, help="root of runs/ and results/ (default: the current folder)")
    p.add_argument("--no_progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--list_models", action="store_true", help="print the registered model names and exit")
    args = vars(p.parse_args(argv))
    if args.pop("list_models"):
        for size in models.SIZES:
            print(f"{size}:\n  " + "\n  ".join(models.model_names(size)))
        return None
    cfg = TrainConfig(**args, command=shlex.join(["rope-blocks", "train", *argv]))
    if cfg.run_id is None:
        cfg.run_id = cfg.model
    if cfg.amp is None:
        cfg.amp = cfg.cuda
    return cfg


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    env = distributed.torchrun_env()
    try:
        cfg = parse_args(argv)
        if cfg is None:
            return 0
        if env is not None:
            rank, local_rank, world = env
            validate(cfg, world)
            return _worker(rank, world, cfg, local_rank)
        world = cfg.world_size if cfg.distributed and cfg.world_size else 1
        validate(cfg, world)
        if world == 1:
            return _worker(0, 1, cfg, 0)
    except ValueError as e:
        if env is None or env[0] == 0:
            print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    codes = distributed.spawn(_spawned, world, (cfg,))
    return next((c for c in codes if c), 0)


def _worker(rank: int, world: int, cfg: TrainConfig, local_rank: int) -> int:
    """One process of the run; returns its exit code."""
    device = torch.device("cuda", local_rank) if cfg.cuda else torch.device("cpu")
    if cfg.cuda:
        torch.cuda.set_device(device)
    distributed.init(rank, world, cfg.cuda)
    try:
        train(cfg, rank, world, device)
    finally:
        distributed.close()
    return 0


def _spawned(rank: int, world: int, cfg: TrainConfig) -> None:
    if not cfg.cuda:  # the workers share the machine's cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        _worker(rank, world, cfg, rank)
    except ValueError as e:
        if rank == 0:
            print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(2)


def run_paths(cfg: TrainConfig) -> tuple[Path, Path]:
    """(run folder with checkpoints and metrics, result file)."""
    out, folder = Path(cfg.out), data.results_folder(cfg.dataset)
    return out / "runs" / folder / cfg.run_id, out / "results" / folder / f"{cfg.run_id}.json"


def validate(cfg: TrainConfig, world: int) -> None:
    """Every check that can fail before training starts, so that it fails with a clear message."""
    models.check_name(cfg.model)
    for name in ("epochs", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {getattr(cfg, name)}.")
    if cfg.lr <= 0 or not math.isfinite(cfg.lr):
        raise ValueError(f"--lr must be a positive number, got {cfg.lr}.")
    if cfg.input_size is not None and cfg.input_size < 1:
        raise ValueError(f"--input_size must be positive, got {cfg.input_size}.")
    if cfg.world_size is not None and cfg.world_size < 1:
        raise ValueError(f"--world_size must be at least 1, got {cfg.world_size}.")
    if distributed.torchrun_env() is not None:
        if cfg.world_size not in (None, world):
            raise ValueError(f"--world_size {cfg.world_size} disagrees with torchrun's {world} processes; "
                             "leave --world_size out under torchrun.")
    elif (cfg.world_size or 1) > 1 and not cfg.distributed:
        raise ValueError(f"--world_size {cfg.world_size} needs --distributed (or start the run with torchrun).")
    if cfg.cuda:
        if not torch.cuda.is_available():
            raise ValueError("--cuda was given but no CUDA GPU is available to torch "
                             f"(torch {torch.__version__}); leave out --cuda to train on the CPU.")
        # Processes on this machine: all of them, or under torchrun its --nproc_per_node.
        local = world if distributed.torchrun_env() is None else int(os.environ.get("LOCAL_WORLD_SIZE", world))
        if local > torch.cuda.device_count():
            raise ValueError(f"{local} processes on this machine but only {torch.cuda.device_count()} CUDA GPUs; "
                             f"use --world_size (or torchrun --nproc_per_node) {torch.cuda.device_count()} or fewer.")
    elif world > (os.cpu_count() or 1):
        raise ValueError(f"--world_size {world} is larger than the {os.cpu_count()} CPU cores here; "
                         f"use --world_size {os.cpu_count()} or fewer.")
    if cfg.resume and cfg.overwrite:
        raise ValueError("--resume and --overwrite contradict each other; pass one of them.")
    splits = data.load(cfg.dataset, cfg.data_path, image_size=cfg.input_size or 32, seed=cfg.seed)
    if cfg.batch_size * world > len(splits.train):
        raise ValueError(f"--batch_size {cfg.batch_size} x {world} process(es) is larger than the "
                         f"{len(splits.train)} training images of {cfg.dataset}; use --batch_size "
                         f"{max(1, len(splits.train) // world)} or less.")
    run_dir, result_path = run_paths(cfg)
    existing = [str(p) for p in (run_dir / "last.pt", run_dir / "best.pt", run_dir / "metrics.jsonl", result_path)
                if p.exists()]
    if existing and not (cfg.resume or cfg.overwrite):
        raise ValueError(f"run '{cfg.run_id}' already has outputs ({', '.join(existing)}); pass --resume to "
                         "continue it, --overwrite to replace it, or choose another --run_id.")
    if cfg.resume == "auto" and existing and not (run_dir / "last.pt").exists():
        raise ValueError(f"--resume found no checkpoint in {run_dir} but earlier outputs exist "
                         f"({', '.join(existing)}); pass --resume CHECKPOINT or --overwrite.")
    if cfg.resume not in (None, "auto") and not Path(cfg.resume).is_file():
        raise ValueError(f"--resume {cfg.resume}: no such checkpoint file.")


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def build_optimizers(model: ViT, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
    """AdamW (or SGD) for Euclidean weights; geoopt's Riemannian version for Stiefel bases."""
    import geoopt

    manifold = {id(p) for p in rb.stiefel_parameters(model)}
    # Norms, biases, tokens, absolute embedding and rotation parameters are not decayed.
    skip = model.no_weight_decay()
    decay, no_decay, riemannian = [], [], []
    for name, p in model.named_parameters():
        if id(p) in manifold:
            riemannian.append(p)
        elif p.ndim < 2 or name in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        opts = [torch.optim.AdamW(groups, lr=cfg.lr)]
        if riemannian:
            opts.append(geoopt.optim.RiemannianAdam(riemannian, lr=cfg.lr))
    else:
        opts = [torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)]
        if riemannian:
            opts.append(geoopt.optim.RiemannianSGD(riemannian, lr=cfg.lr, momentum=0.9))
    return opts


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    import geoopt

    opt.load_state_dict(state)
    if isinstance(opt, (geoopt.optim.RiemannianAdam, geoopt.optim.RiemannianSGD)):
        # torch hands "step" back as a float32 tensor; geoopt counts in Python ints, and its bias
        # correction beta ** step in float32 would make a resumed run drift from an uninterrupted one.
        for param_state in opt.state.values():
            if "step" in param_state:
                param_state["step"] = int(param_state["step"])


def autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@torch.no_grad()
def evaluate(model, loader, prepare, device, amp) -> tuple[float, float]:
    """(mean loss, accuracy) over a split sharded across the processes."""
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for images, labels in loader:
        labels = labels.to(device)
        with autocast(device, amp):
            logits = model(prepare(images.to(device)))
        sums += torch.stack([F.cross_entropy(logits.float(), labels, reduction="sum"),
                             (logits.argmax(-1) == labels).sum(), torch.tensor(len(labels), device=device)]).double()
    loss, correct, count = distributed.sum_all(sums).tolist()
    return loss / count, correct / count


def _rng_state(device) -> dict:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng_state(state: dict, device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def git_commit(code: tuple[str, ...] = ("training", "rope_blocks", "theory")) -> str:
    """HEAD, flagged when the folders holding the code that ran differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        # New files count too: code the commit does not hold must not pass for that commit.
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *code],
                               cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def describe_device(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(device)}"
    return f"{world} x CPU process ({torch.get_num_threads()} threads; {platform.processor() or platform.machine()})"


def relative_errors(model: ViT) -> list[float]:
    """Measured max |R(x)^T R(y) - R(y - x)| of each trained encoding, over the training grid's offsets."""
    extent = (model.cfg.grid - 1) * model.cfg.pos_scale
    return [rb.relative_error(enc, num_samples=64, seed=0, extent=extent) for enc in model.encodings]


def train(cfg: TrainConfig, rank: int = 0, world: int = 1, device: torch.device = torch.device("cpu")) -> dict:
    """Train (or resume) one run; returns its result record (also written by rank 0)."""
    run_dir, result_path = run_paths(cfg)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    splits = data.load(cfg.dataset, cfg.data_path, image_size=cfg.input_size or 32, seed=cfg.seed)
    size = cfg.input_size or splits.image_size
    torch.manual_seed(cfg.seed)
    model_cfg = models.model_config(cfg.model, image_size=size, in_chans=splits.in_chans,
                                    num_classes=splits.num_classes, dropout=cfg.dropout)
    model = ViT(model_cfg).to(device)
    optimizers = build_optimizers(model, cfg)
    saved_cfg = {**asdict(cfg), "world_size": world}

    state = None
    resume_path = last_path if cfg.resume == "auto" else Path(cfg.resume) if cfg.resume else None
    if resume_path is not None and resume_path.exists():
        state = checkpoint.load(resume_path, fallback=best_path)
        checkpoint.check_same_run(state["config"], saved_cfg, resume_path)
        try:
            model.load_state_dict(state["model"])
            for opt, s in zip(optimizers, state["optimizers"], strict=True):
                load_optimizer_state(opt, s)
        except (RuntimeError, ValueError, KeyError) as e:
            raise ValueError(f"checkpoint {resume_path} does not fit model {cfg.model} ({e}). "
                             "It was left in place; start a new run with another --run_id.") from None
    elif cfg.overwrite and rank == 0:
        for p in (last_path, best_path, run_dir / "metrics.jsonl", result_path):
            p.unlink(missing_ok=True)
    distributed.barrier()

    sampler = DistributedSampler(splits.train, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed,
                                 drop_last=True)
    loader_args = dict(batch_size=cfg.batch_size, num_workers=cfg.num_workers, pin_memory=device.type == "cuda")
    train_loader = DataLoader(splits.train, sampler=sampler, drop_last=True, **loader_args)
    # Evaluation: each process takes every world-th image, and the sums are all-reduced.
    eval_loaders = {name: DataLoader(Subset(split, range(rank, len(split), world)), **loader_args)
                    for name, split in (("val", splits.val), ("test", splits.test))}
    steps_per_epoch = len(train_loader)
    total_steps, warmup = cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)

    forward = torch.compile(model) if cfg.compile else model
    net = forward
    if world > 1:
        net = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None)

    def prepare(images):
        return splits.prepare(images.to(device, non_blocking=True), size)

    history, best, start_epoch = [], None, 0
    if state is not None:
        history, best, start_epoch = state["history"], state["best"], state["epoch"]
        _set_rng_state(state["rng"][rank], device)
    else:
        torch.manual_seed(cfg.seed + rank)  # dropout masks differ across processes
    n_params = sum(p.numel() for p in model.parameters())
    n_enc_params = sum(p.numel() for p in model.encodings.parameters())
    record = {
        "run_id": cfg.run_id, "model": cfg.model, "dataset": cfg.dataset, "command": cfg.command,
        "commit": git_commit(), "device": describe_device(device, world), "seed": cfg.seed,
        "config": saved_cfg, "model_config": asdict(model_cfg), "parameters": n_params,
        "encoding_parameters": n_enc_params, "relative_by_theory": _relative_by_theory(model),
    }
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"{cfg.run_id}: {cfg.model} on {cfg.dataset} ({len(splits.train)} train images), {n_params:,} parameters, "
        f"{world} process(es) on {device.type}")

    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        net.train()
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        _sync(device)
        t0 = time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, dynamic_ncols=True,
                   disable=True if rank != 0 or not cfg.progress else None)  # None: off when not a terminal
        for i, (images, labels) in enumerate(bar):
            step = epoch * steps_per_epoch + i
            lr = cfg.lr * lr_factor(step, warmup, total_steps)
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] = lr
            labels = labels.to(device, non_blocking=True)
            with autocast(device, cfg.amp):
                logits = net(prepare(images))
            loss = F.cross_entropy(logits.float(), labels)
            batch = distributed.sum_all(torch.stack([
                loss.detach() * len(labels), (logits.argmax(-1) == labels).sum(),
                torch.tensor(len(labels), device=device)]).double())
            loss_sum, _, count = batch.tolist()
            if not math.isfinite(loss_sum):
                raise ValueError(_nan_message(loss_sum, step, epoch, i, history, last_path))
            sums += batch
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            bar.set_postfix(loss=f"{loss_sum / count:.4f}", lr=f"{lr:.2e}")
        _sync(device)
        seconds = time.perf_counter() - t0
        train_loss, train_correct, train_count = sums.tolist()
        # Without the DDP wrapper: shards may differ in length by one batch, and DDP's forward
        # would wait for the other processes.
        val_loss, val_acc = evaluate(forward, eval_loaders["val"], prepare, device, cfg.amp)
        test_loss, test_acc = evaluate(forward, eval_loaders["test"], prepare, device, cfg.amp)
        history.append({
            "epoch": epoch + 1, "lr": lr, "train_loss": train_loss / train_count,
            "train_acc": train_correct / train_count, "val_loss": val_loss, "val_acc": val_acc,
            "test_loss": test_loss, "test_acc": test_acc, "images_per_sec": train_count / seconds,
            "train_seconds": seconds,
        })
        improved = best is None or val_acc > best["val_acc"]
        if improved:
            best = {k: history[-1][k] for k in ("epoch", "val_loss", "val_acc", "test_loss", "test_acc")}
        rng = distributed.gather(_rng_state(device))
        if rank == 0:
            ckpt = {"config": saved_cfg, "model_config": asdict(model_cfg), "model": model.state_dict(),
                    "optimizers": [opt.state_dict() for opt in optimizers], "epoch": epoch + 1,
                    "history": history, "best": best, "rng": rng}
            checkpoint.save(ckpt, last_path)
            if improved:
                checkpoint.save(ckpt, best_path)
            checkpoint.write_jsonl(history, run_dir / "metrics.jsonl")
            finished = epoch + 1 == cfg.epochs
            checkpoint.write_json(_result(record, history, best, model if finished else None), result_path)
        h = history[-1]
        say(f"epoch {epoch + 1}/{cfg.epochs}: train loss {h['train_loss']:.4f} acc {h['train_acc']:.4f} | "
            f"val loss {val_loss:.4f} acc {val_acc:.4f} | test acc {test_acc:.4f} | {h['images_per_sec']:.0f} img/s")
        distributed.barrier()
    result = _result(record, history, best, model)
    if rank == 0 and start_epoch == cfg.epochs:  # resumed a finished run: refresh its result file
        checkpoint.write_json(result, result_path)
    return result


def _relative_by_theory(model: ViT):
    return model.encodings[0].relative if len(model.encodings) else None


def _result(record, history, best, trained_model) -> dict:
    finished = trained_model is not None
    return {**record, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "finished": finished, "epochs_done": len(history), "best": best,
            "final": history[-1] if history else None, "history": history,
            "relative_error": relative_errors(trained_model) if finished else None}


def _nan_message(value, step, epoch, batch, history, last_path) -> str:
    where = f"the training loss became {value} at step {step + 1} (epoch {epoch + 1}, batch {batch + 1}); training stopped."
    if history and last_path.exists():
        return f"{where} The last good checkpoint is {last_path} (epoch {history[-1]['epoch']}). Lower --lr and start a new run."
    return f"{where} No checkpoint was written before it. Lower --lr and start again."


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    sys.exit(main())
