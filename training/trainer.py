"""Train one ViT: ``run(cfg, splits) -> result``, in process, on one device or as one rank of many.

Each epoch writes <out>/runs/<dataset>/<run_id>/{last.pt,best.pt,metrics.jsonl} and
<out>/results/<dataset>/<run_id>.json; ``cfg.resume`` continues a killed run exactly where its
last epoch ended. training.launch starts the processes; this module is one of them.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

import rope_blocks as rb
from records import provenance
from records.model_id import ModelId

from . import checkpoint, data, distributed, models
from .config import TrainConfig, run_paths
from .optim import build_optimizers, load_optimizer_state
from .vit import ViT


@dataclass
class Run:
    """Everything a run holds between epochs."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    splits: data.Splits
    model: ViT
    forward: torch.nn.Module  # the model, compiled when asked (evaluation runs on it without DDP)
    net: torch.nn.Module  # what a training step calls: forward, wrapped by DDP across processes
    optimizers: list
    sampler: DistributedSampler
    loaders: dict
    record: dict
    history: list
    best: dict | None
    start_epoch: int

    @property
    def paths(self) -> tuple[Path, Path]:
        return run_paths(self.cfg)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        size = self.cfg.input_size or self.splits.image_size
        return self.splits.prepare(images.to(self.device, non_blocking=True), size)


def selected(select: str, epoch: dict, best: dict | None) -> bool:
    """Whether ``epoch`` replaces ``best`` under TrainConfig.select (ties keep the earlier epoch)."""
    if best is None or select == "last":
        return True
    return epoch["val_loss"] < best["val_loss"] if select == "val_loss" else epoch["val_acc"] > best["val_acc"]


def autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def load_splits(cfg: TrainConfig) -> data.Splits:
    splits = data.load(cfg.dataset, cfg.data_path, image_size=cfg.input_size or 32, seed=cfg.seed)
    return splits if cfg.max_images is None else data.first(splits, cfg.max_images)


def run(
    cfg: TrainConfig,
    splits: data.Splits | None = None,
    rank: int = 0,
    world: int = 1,
    device: torch.device | None = None,
) -> dict:
    """Train (or resume) one run on ``device`` (default the CPU); returns its result record (rank 0 writes it)."""
    device = device or torch.device("cpu")
    r = setup(cfg, splits if splits is not None else load_splits(cfg), rank, world, device)
    say = print if rank == 0 else (lambda *a, **k: None)
    n_params = r.record["parameters"]
    say(
        f"{cfg.run_id}: {cfg.model} on {cfg.dataset} ({len(r.splits.train)} train images), {n_params:,} "
        f"parameters, {world} process(es) on {device.type}"
    )
    for epoch in range(r.start_epoch, cfg.epochs):
        h = train_epoch(r, epoch)
        improved = selected(cfg.select, h, r.best)
        if improved:
            r.best = {k: h[k] for k in ("epoch", "val_loss", "val_acc", "test_loss", "test_acc")}
        save(r, epoch, improved)
        say(
            f"epoch {epoch + 1}/{cfg.epochs}: train loss {h['train_loss']:.4f} acc {h['train_acc']:.4f} | "
            f"val loss {h['val_loss']:.4f} acc {h['val_acc']:.4f} | test acc {h['test_acc']:.4f} | "
            f"{h['images_per_sec']:.0f} img/s"
        )
        distributed.barrier()
    result = _result(r, finished=True)
    if rank == 0 and r.start_epoch == cfg.epochs:  # resumed a finished run: refresh its result file
        provenance.write_json(result, r.paths[1])
    return result


def setup(cfg: TrainConfig, splits: data.Splits, rank: int, world: int, device: torch.device) -> Run:
    """The model, its optimizers and loaders, resumed from the run's checkpoint when asked."""
    run_dir, result_path = run_paths(cfg)
    size = cfg.input_size or splits.image_size
    torch.manual_seed(cfg.seed)
    model_cfg = models.model_config(
        cfg.model,
        image_size=size,
        in_chans=splits.in_chans,
        num_classes=splits.num_classes,
        dropout=cfg.dropout,
        blank_value=tuple(-m / s for m, s in zip(splits.mean, splits.std)),  # where a pixel is 0
    )
    model = ViT(model_cfg).to(device)
    optimizers = build_optimizers(model, cfg.optimizer, cfg.lr, cfg.weight_decay)
    saved_cfg = {**asdict(cfg), "world_size": world}
    state = _resume_state(cfg, model, optimizers, saved_cfg, run_dir, result_path, rank)
    distributed.barrier()

    sampler = DistributedSampler(
        splits.train, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    loader_args = dict(batch_size=cfg.batch_size, num_workers=cfg.num_workers, pin_memory=device.type == "cuda")
    # Evaluation: each process takes every world-th image, and the sums are all-reduced.
    loaders = {"train": DataLoader(splits.train, sampler=sampler, drop_last=True, **loader_args)}
    loaders |= {
        name: DataLoader(Subset(split, range(rank, len(split), world)), **loader_args)
        for name, split in (("val", splits.val), ("test", splits.test))
    }
    forward = torch.compile(model) if cfg.compile else model
    net = forward
    if world > 1:
        net = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None)
    history, best, start_epoch = [], None, 0
    if state is not None:
        history, best, start_epoch = state["history"], state["best"], state["epoch"]
        _set_rng_state(state["rng"][rank], device)
    else:
        torch.manual_seed(cfg.seed + rank)  # dropout masks differ across processes
    record = _record(cfg, saved_cfg, model, device, world)
    return Run(
        cfg=cfg,
        rank=rank,
        world=world,
        device=device,
        splits=splits,
        model=model,
        forward=forward,
        net=net,
        optimizers=optimizers,
        sampler=sampler,
        loaders=loaders,
        record=record,
        history=history,
        best=best,
        start_epoch=start_epoch,
    )


def _resume_state(cfg, model, optimizers, saved_cfg, run_dir: Path, result_path: Path, rank: int) -> dict | None:
    """The checkpoint to continue from (loaded into model and optimizers), or None for a fresh run."""
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    resume_path = last_path if cfg.resume == "auto" else Path(cfg.resume) if cfg.resume else None
    if resume_path is not None and resume_path.exists():
        state = checkpoint.load(resume_path, fallback=best_path)
        checkpoint.check_same_run(state["config"], saved_cfg, resume_path)
        try:
            model.load_state_dict(state["model"])
            for opt, s in zip(optimizers, state["optimizers"], strict=True):
                load_optimizer_state(opt, s)
        except (RuntimeError, ValueError, KeyError) as e:
            raise ValueError(
                f"checkpoint {resume_path} does not fit model {cfg.model} ({e}). "
                "It was left in place; start a new run with another --run-id."
            ) from None
        return state
    if cfg.overwrite and rank == 0:
        for p in (last_path, best_path, run_dir / "metrics.jsonl", result_path):
            p.unlink(missing_ok=True)
    return None


def _record(cfg: TrainConfig, saved_cfg: dict, model: ViT, device: torch.device, world: int) -> dict:
    """What the result file says of the run besides its history: provenance, identity, sizes."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    device_text = provenance.device_description(gpu, processes=world, threads=torch.get_num_threads())
    return {
        "run_id": cfg.run_id,
        "model": cfg.model,
        "dataset": cfg.dataset,
        "command": cfg.command,
        "commit": provenance.git_commit(),
        "device": device_text,
        "seed": cfg.seed,
        "identity": ModelId.parse(cfg.model).fields(),
        "config": saved_cfg,
        "model_config": asdict(model.cfg),
        "parameters": sum(p.numel() for p in model.parameters()),
        "encoding_parameters": sum(p.numel() for p in model.encodings.parameters()),
        "relative_by_theory": model.encodings[0].relative if len(model.encodings) else None,
    }


def train_epoch(r: Run, epoch: int) -> dict:
    """One epoch of training, then validation and test; returns (and appends) its history entry."""
    cfg, device = r.cfg, r.device
    steps_per_epoch = len(r.loaders["train"])
    total_steps, warmup = cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)
    r.sampler.set_epoch(epoch)
    r.net.train()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    _sync(device)
    t0 = time.perf_counter()
    disable = True if r.rank != 0 or not cfg.progress else None  # None: off when not a terminal
    bar = tqdm(
        r.loaders["train"], desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, dynamic_ncols=True, disable=disable
    )
    for i, (images, labels) in enumerate(bar):
        step = epoch * steps_per_epoch + i
        lr = cfg.lr * lr_factor(step, warmup, total_steps)
        batch = train_step(r, images, labels, lr, (step, epoch, i))
        sums += batch
        loss_sum, _, count = batch.tolist()
        bar.set_postfix(loss=f"{loss_sum / count:.4f}", lr=f"{lr:.2e}")
    _sync(device)
    seconds = time.perf_counter() - t0
    train_loss, train_correct, train_count = sums.tolist()
    # Without the DDP wrapper: shards may differ in length by one batch, and DDP's forward
    # would wait for the other processes.
    val_loss, val_acc = evaluate(r.forward, r.loaders["val"], r.prepare, device, cfg.amp)
    test_loss, test_acc = evaluate(r.forward, r.loaders["test"], r.prepare, device, cfg.amp)
    r.history.append(
        {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": train_loss / train_count,
            "train_acc": train_correct / train_count,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "images_per_sec": train_count / seconds,
            "train_seconds": seconds,
        }
    )
    return r.history[-1]


def train_step(r: Run, images: torch.Tensor, labels: torch.Tensor, lr: float, where: tuple[int, int, int]):
    """One optimisation step at learning rate ``lr``; (loss sum, correct, count) over all processes.

    where: (step, epoch, batch), for the message when the loss stops being finite.
    """
    for opt in r.optimizers:
        for group in opt.param_groups:
            group["lr"] = lr
    labels = labels.to(r.device, non_blocking=True)
    with autocast(r.device, r.cfg.amp):
        logits = r.net(r.prepare(images))
    loss = F.cross_entropy(logits.float(), labels)
    counts = [
        loss.detach() * len(labels),
        (logits.argmax(-1) == labels).sum(),
        torch.tensor(len(labels), device=r.device),
    ]
    batch = distributed.sum_all(torch.stack(counts).double())
    loss_sum = batch[0].item()
    if not math.isfinite(loss_sum):
        raise ValueError(_nan_message(loss_sum, *where, r.history, r.paths[0] / "last.pt"))
    for opt in r.optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in r.optimizers:
        opt.step()
    return batch


@torch.no_grad()
def evaluate(model, loader, prepare, device, amp, **forward_options) -> tuple[float, float]:
    """(mean loss, accuracy) over a split sharded across the processes; forward_options go to the model."""
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for images, labels in loader:
        labels = labels.to(device)
        with autocast(device, amp):
            logits = model(prepare(images.to(device)), **forward_options)
        sums += torch.stack(
            [
                F.cross_entropy(logits.float(), labels, reduction="sum"),
                (logits.argmax(-1) == labels).sum(),
                torch.tensor(len(labels), device=device),
            ]
        ).double()
    loss, correct, count = distributed.sum_all(sums).tolist()
    return loss / count, correct / count


def save(r: Run, epoch: int, improved: bool) -> None:
    """The epoch's checkpoints (last.pt; best.pt when validation improved), metrics and result file."""
    rng = distributed.gather(_rng_state(r.device))
    if r.rank != 0:
        return
    run_dir, result_path = r.paths
    ckpt = {
        "config": r.record["config"],
        "model_config": r.record["model_config"],
        "model": r.model.state_dict(),
        "optimizers": [opt.state_dict() for opt in r.optimizers],
        "epoch": epoch + 1,
        "history": r.history,
        "best": r.best,
        "rng": rng,
    }
    checkpoint.save(ckpt, run_dir / "last.pt")
    if improved:
        checkpoint.save(ckpt, run_dir / "best.pt")
    provenance.write_jsonl(r.history, run_dir / "metrics.jsonl")
    provenance.write_json(_result(r, finished=epoch + 1 == r.cfg.epochs), result_path)


def relative_errors(model: ViT) -> list[float]:
    """Measured max |R(x)^T R(y) - R(y - x)| of each trained encoding, over the training grid's offsets."""
    extent = (model.cfg.grid - 1) * model.cfg.pos_scale
    return [rb.relative_error(enc, num_samples=64, seed=0, extent=extent) for enc in model.encodings]


def _result(r: Run, finished: bool) -> dict:
    return {
        **r.record,
        "date": provenance.now(),
        "finished": finished,
        "epochs_done": len(r.history),
        "best": r.best,
        "final": r.history[-1] if r.history else None,
        "history": r.history,
        "relative_error": relative_errors(r.model) if finished else None,
    }


def _rng_state(device) -> dict:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng_state(state: dict, device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _nan_message(value, step, epoch, batch, history, last_path) -> str:
    where = (
        f"the training loss became {value} at step {step + 1} (epoch {epoch + 1}, batch {batch + 1}); training stopped."
    )
    if history and last_path.exists():
        return (
            f"{where} The last good checkpoint is {last_path} (epoch {history[-1]['epoch']}). Lower --lr and "
            "start a new run."
        )
    return f"{where} No checkpoint was written before it. Lower --lr and start again."


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
