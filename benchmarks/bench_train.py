"""Training-step throughput and memory of the seed's models and of the matched-width suite.

One step = forward, backward and the trainer's own optimizers (AdamW, plus RiemannianAdam for
Stiefel bases) on synthetic CIFAR-shaped images. Per model: images per second, memory, model
FLOPs per image (forward + backward, counted by torch's FlopCounterMode) and which
scaled_dot_product_attention kernel ran; on CUDA also bf16 autocast, with and without
torch.compile, and the FLOPs utilisation against the device's dense bf16 peak. From the measured
rates: the projected wall time of the seed's whole comparison (its 11 models x 25 epochs x 50,000
images) on this one device.

    rope-blocks bench train --out results/bench                 # CPU, batch 64
    rope-blocks bench train --models seed --batch 2 --reps 1 --warmup 0 --out results/bench   # CPU, `make bench`
    rope-blocks bench train --device cuda --out results/bench   # GPU: eager and compiled, bf16
    rope-blocks bench train --models fold --batch 8 --reps 3 --warmup 1 --out results/bench   # the folded basis

``--fold`` (implied by ``--models fold``) also measures each model with a learned plane basis folded
into W_q and W_k (ViTConfig.fold_basis); its rows say "fold": true and go to <device>-train-fold.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import re

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import rope_blocks as rb
from records.model_id import ModelId, Variant
from rope_blocks.basis import LEARNED_BASES
from training import models
from training.config import TrainConfig
from training.optim import build_optimizers
from training.vit import ViT

from .common import CPU_FLASH, median_seconds, memory_bytes

SEED_EPOCHS, SEED_IMAGES = 25, 50_000
CIFAR = {"image_size": 32, "in_chans": 3, "num_classes": 10}
# Dense bf16 peak FLOP/s by device name (the vendors' data sheets, without sparsity).
PEAK_BF16 = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12}
ATTENTION_OPS = re.compile(r"^aten::_(scaled_dot_product_\w+|flash_attention\w*|efficient_attention\w*)$")
COMPILE_SUITES = ("seed", "matched", "all")  # no "fold": its models are among "all"'s
SUITES = (*COMPILE_SUITES, "fold")
COMPILE_MODES = {"off": (False,), "on": (True,), "both": (False, True)}
COMPILE_WARMUP = 3  # the first compiled steps (re)compile: never timed


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def sdpa_kernels(step) -> list[str]:
    """The attention kernels one step ran, read off the profiler's op names."""
    with torch.profiler.profile() as prof:
        step()
    return sorted({e.name for e in prof.events() if ATTENTION_OPS.search(e.name)})


def make_step(name: str, device: torch.device, batch: int, amp: bool, compile_: bool, fold: bool = False):
    model = ViT(dataclasses.replace(models.model_config(name, **CIFAR), fold_basis=fold)).to(device)
    model.train()
    cfg = TrainConfig(model=name)  # the trainer's defaults: its optimizer, learning rate and weight decay
    optimizers = build_optimizers(model, cfg.optimizer, cfg.lr, cfg.weight_decay)
    net = torch.compile(model) if compile_ else model
    g = torch.Generator(device=device).manual_seed(0)
    images = torch.randn(batch, 3, 32, 32, generator=g, device=device)
    labels = torch.randint(0, 10, (batch,), generator=g, device=device)
    cast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext

    def forward():
        with cast():
            return (F.cross_entropy(net(images), labels),)

    def step():
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        forward()[0].backward()
        for opt in optimizers:
            opt.step()

    return model, forward, step


def measure(name, device, batch, amp, compile_, warmup, reps, fold=False) -> dict:
    model, forward, step = make_step(name, device, batch, amp, compile_, fold)
    seconds = median_seconds(step, device, warmup, reps)
    with FlopCounterMode(display=False, custom_mapping=CPU_FLASH) as counter:
        forward()[0].backward()
    flops = counter.get_total_flops()
    peak = peak_flops(device)
    return {
        "model": name,
        "compile": compile_,
        "amp": amp,
        "fold": fold,
        "batch": batch,
        "params": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": seconds,
        "images_per_second": batch / seconds,
        "memory_bytes": memory_bytes(step, forward, device),
        "flops_per_image": flops / batch,
        "mfu": flops / seconds / peak if peak else None,
        "sdpa_kernels": sdpa_kernels(step),
    }


def projected_seconds(rows: list[dict], seed_models: list[str], compile_: bool) -> float | None:
    """Wall time of the seed's comparison on this device at the measured rates."""
    rates = {r["model"]: r["images_per_second"] for r in rows if r["compile"] == compile_}
    if not all(m in rates for m in seed_models):
        return None
    return sum(SEED_EPOCHS * SEED_IMAGES / rates[m] for m in seed_models)


def table(rows: list[dict]) -> str:
    """Markdown: images/s, memory and MFU per model, and the ratio to the axial model of its width."""
    lines = [
        "| model | compile | params | images/s | x axial | x mixed | memory MiB | GFLOP/image | MFU "
        "| attention kernel |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio, to_mixed = (ratio_to(rows, r, same_size(family, r["model"])) for family in ("axial", "mixed"))
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        kernels = ", ".join(k.replace("aten::", "") for k in r["sdpa_kernels"]) or "-"
        model = r["model"] + (" (fold)" if r.get("fold") else "")
        lines.append(
            f"| {model} | {'yes' if r['compile'] else 'no'} | {r['params']:,} | "
            f"{r['images_per_second']:.1f} | {ratio} | {to_mixed} | {r['memory_bytes'] / 2**20:.0f} | "
            f"{r['flops_per_image'] / 1e9:.2f} | {mfu} | {kernels} |"
        )
    return "\n".join(lines)


def ratio_to(rows: list[dict], row: dict, reference: str) -> str:
    """Step time of ``row`` as a multiple of the unfolded ``reference`` model's, "-" if not measured."""
    ref = next(
        (a for a in rows if a["compile"] == row["compile"] and a["model"] == reference and not a.get("fold")), None
    )
    return f"{ref['images_per_second'] / row['images_per_second']:.2f}" if ref else "-"


def same_size(family: str, name: str) -> str:
    """The 2x2 model of ``family`` at the size of model ``name``: axial is the reference of the step-time
    ratio, RoPE-Mixed what a folded commuting model is exported to."""
    return str(ModelId(Variant(family), ModelId.parse(name).size))


def suites(which: str) -> list[str]:
    seed = [str(ModelId(v, "cifar10")) for v in models.SEED_VARIANTS]
    matched = models.model_names("matched_cifar10")
    # The folded basis against the 2x2 designs at one width (matched: the head width every k divides).
    fold_variants = (
        Variant("axial"),
        Variant("mixed"),
        *(Variant("commuting", block_size=4, design=d) for d in ("mixed", "axial")),
    )
    fold = [str(ModelId(v, "matched_cifar10")) for v in fold_variants]
    return {"seed": seed, "matched": matched, "all": seed + matched, "fold": fold}[which]


def foldable(name: str) -> bool:
    """Models whose learned plane basis folds into W_q and W_k (ViTConfig.fold_basis).

    Folding a fixed basis (or the seed's plane permutation) changes nothing worth timing.
    """
    cfg = models.model_config(name, **CIFAR)
    basis = cfg.enc_options.get("basis", rb.family_options(cfg.family).get("basis"))
    return rb.family_class(cfg.family).has_plane_basis and basis in LEARNED_BASES


def run_train(
    names: list[str],
    device: torch.device,
    batch: int,
    warmup: int,
    reps: int,
    compile_modes=(False,),
    compiled: list[str] | None = None,
    fold: bool = False,
    log=print,
) -> list[dict]:
    """A row per model and compile mode (and folded, with ``fold``, for each foldable model).

    compiled: the models also measured compiled (default all of ``names``): a compile costs tens of seconds.
    """
    amp = device.type == "cuda"
    rows = []
    for compile_ in compile_modes:
        for name in [n for n in names if not compile_ or compiled is None or n in compiled]:
            for folded in (False, True) if fold and foldable(name) else (False,):
                torch.manual_seed(0)
                row = measure(
                    name, device, batch, amp, compile_, warmup + (COMPILE_WARMUP if compile_ else 0), reps, fold=folded
                )
                rows.append(row)
                gc.collect()  # each model's activations are large: return them before building the next
                log(
                    f"{name + (' (fold)' if folded else ''):<51} compile={compile_!s:<5} "
                    f"{row['images_per_second']:9.1f} img/s  {row['memory_bytes'] / 2**20:8.0f} MiB"
                )
    return rows


def benchmark(
    device: torch.device,
    batch: int,
    warmup: int,
    reps: int,
    suite: str = "all",
    compile_: str | None = None,
    compile_suite: str = "all",
    fold: bool = False,
) -> dict:
    """The result file's payload: the rows of ``suite`` and the projected time of the seed's comparison.

    compile_: "off", "on" or "both" (default both on CUDA, off on the CPU); compile_suite: which of
    the suite's models are also measured compiled.
    """
    modes = COMPILE_MODES[compile_ or ("both" if device.type == "cuda" else "off")]
    log = lambda line: print(line, flush=True)  # a CIFAR step takes seconds on a CPU: show each row as it comes
    rows = run_train(suites(suite), device, batch, warmup, reps, modes, suites(compile_suite), fold, log)
    seed_models = suites("seed")
    projection = {("compiled" if c else "eager"): projected_seconds(rows, seed_models, c) for c in modes}
    return {
        "rows": rows,
        "projected_seed_comparison_seconds": projection,
        "seed_comparison": f"{len(seed_models)} models x {SEED_EPOCHS} epochs x {SEED_IMAGES} images",
    }


def report(payload: dict) -> str:
    lines = [table(payload["rows"])]
    for mode, seconds in payload["projected_seed_comparison_seconds"].items():
        if seconds is not None:
            lines.append(
                f"\nprojected wall time of the seed's comparison ({mode}, this device): {seconds / 60:.1f} min"
            )
    return "\n".join(lines)
