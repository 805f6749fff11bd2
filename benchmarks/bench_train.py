"""Training-step throughput and memory of the seed's models and of the matched-width suite.

One step = forward, backward and the trainer's own optimizers (AdamW, plus RiemannianAdam for
Stiefel bases) on synthetic CIFAR-shaped images. Per model: images per second, memory, model
FLOPs per image (forward + backward, counted by torch's FlopCounterMode) and which
scaled_dot_product_attention kernel ran; on CUDA also bf16 autocast, with and without
torch.compile, and the FLOPs utilisation against the device's dense bf16 peak. From the measured
rates: the projected wall time of the seed's whole comparison (its 11 models x 25 epochs x 50,000
images) on this one device.

    python -m benchmarks.bench_train                           # CPU, batch 64
    python -m benchmarks.bench_train --models seed --batch 2 --reps 1 --warmup 0   # CPU, `make bench`
    python -m benchmarks.bench_train --device cuda              # GPU: eager and compiled, bf16
    python -m benchmarks.bench_train --models fold --batch 8 --reps 3 --warmup 1   # the folded basis

``--fold`` (implied by ``--models fold``) also measures each commuting model with its basis folded
into W_q and W_k (ViTConfig.fold_basis); its rows say "fold": true and go to <device>-train-fold.json.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import re
import sys

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from training import main as trainer
from training import models
from training.vit import ViT

from .common import add_run_arguments, median_seconds, memory_bytes, run_device, write_result

SEED_EPOCHS, SEED_IMAGES = 25, 50_000
# Dense bf16 peak FLOP/s by device name (the vendors' data sheets, without sparsity).
PEAK_BF16 = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12}
ATTENTION_OPS = re.compile(r"^aten::_(scaled_dot_product_\w+|flash_attention\w*|efficient_attention\w*)$")


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
    cfg = models.model_config(name, image_size=32, in_chans=3, num_classes=10)
    model = ViT(dataclasses.replace(cfg, fold_basis=fold)).to(device)
    model.train()
    optimizers = trainer.build_optimizers(model, trainer.TrainConfig(model=name))
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
    with FlopCounterMode(display=False) as counter:
        forward()[0].backward()
    flops = counter.get_total_flops()
    peak = peak_flops(device)
    return {
        "model": name, "compile": compile_, "amp": amp, "fold": fold, "batch": batch,
        "params": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": seconds, "images_per_second": batch / seconds,
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
    lines = ["| model | compile | params | images/s | x axial | x mixed | memory MiB | GFLOP/image | MFU "
             "| attention kernel |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio, to_mixed = (ratio_to(rows, r, ref(r["model"])) for ref in (axial_of, mixed_of))
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        kernels = ", ".join(k.replace("aten::", "") for k in r["sdpa_kernels"]) or "-"
        model = r["model"] + (" (fold)" if r.get("fold") else "")
        lines.append(f"| {model} | {'yes' if r['compile'] else 'no'} | {r['params']:,} | "
                     f"{r['images_per_second']:.1f} | {ratio} | {to_mixed} | {r['memory_bytes'] / 2**20:.0f} | "
                     f"{r['flops_per_image'] / 1e9:.2f} | {mfu} | {kernels} |")
    return "\n".join(lines)


def ratio_to(rows: list[dict], row: dict, reference: str) -> str:
    """Step time of ``row`` as a multiple of the unfolded ``reference`` model's, "-" if not measured."""
    ref = next((a for a in rows if a["compile"] == row["compile"] and a["model"] == reference
                and not a.get("fold")), None)
    return f"{ref['images_per_second'] / row['images_per_second']:.2f}" if ref else "-"


def axial_of(name: str) -> str:
    """The axial 2x2 model of the same size: the reference for the step-time ratio."""
    return _same_size("vit_rope_2D_axial_2x2_", name)


def mixed_of(name: str) -> str:
    """The RoPE-Mixed 2x2 model of the same size: what a folded commuting model is exported to."""
    return _same_size("vit_mixed_rope_2D_2x2_", name)


def _same_size(prefix: str, name: str) -> str:
    size = name.rsplit("_cifar10", 1)[0]
    return prefix + ("matched_cifar10" if size.endswith("_matched") else "cifar10")


def suites(which: str) -> list[str]:
    seed = [f"vit_{v}_cifar10" for v in models.SEED_VARIANTS]
    matched = models.model_names("matched_cifar10")
    # The folded basis against the 2x2 designs at one width (matched: the head width every k divides).
    fold = [f"vit_{v}_matched_cifar10" for v in ("rope_2D_axial_2x2", "mixed_rope_2D_2x2",
                                                 "commuting_mixed_rope_2D_4x4", "commuting_axial_rope_2D_4x4")]
    return {"seed": seed, "matched": matched, "all": seed + matched, "fold": fold}[which]


def foldable(name: str) -> bool:
    """Models whose learned basis can fold into W_q and W_k (ViTConfig.fold_basis)."""
    return models.REGISTRY[name][0].family == "commuting"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, batch=64, name=None)
    parser.add_argument("--models", choices=("seed", "matched", "all", "fold"), default="all")
    parser.add_argument("--fold", action="store_true",
                        help="also measure each commuting model with fold_basis=True (implied by --models fold); "
                             "default --name train-fold")
    parser.add_argument("--compile", choices=("off", "on", "both"), default=None,
                        help="torch.compile the model (default: both on CUDA, off on CPU)")
    parser.add_argument("--compile_models", choices=("seed", "matched", "all"), default="all",
                        help="which of --models are also measured compiled (each compile costs tens of seconds)")
    args = parser.parse_args(argv)
    device = run_device(args, parser)
    compile_modes = {"off": [False], "on": [True], "both": [False, True]}[
        args.compile or ("both" if device.type == "cuda" else "off")]
    amp = device.type == "cuda"
    names = suites(args.models)
    fold = args.fold or args.models == "fold"
    args.name = args.name or ("train-fold" if fold else "train")
    rows = []
    for compile_ in compile_modes:
        for name in [n for n in names if not compile_ or n in suites(args.compile_models)]:
            for folded in (False, True) if fold and foldable(name) else (False,):
                torch.manual_seed(0)
                row = measure(name, device, args.batch, amp, compile_, args.warmup + (3 if compile_ else 0),
                              args.reps, fold=folded)
                rows.append(row)
                gc.collect()  # each model's activations are large: return them before building the next
                print(f"{name + (' (fold)' if folded else ''):<51} compile={compile_!s:<5} "
                      f"{row['images_per_second']:9.1f} img/s  {row['memory_bytes'] / 2**20:8.0f} MiB", flush=True)
    seed_models = suites("seed")
    projection = {("compiled" if c else "eager"): projected_seconds(rows, seed_models, c) for c in compile_modes}
    path = write_result(args.name, device, {"rows": rows, "projected_seed_comparison_seconds": projection,
                                          "seed_comparison": f"{len(seed_models)} models x {SEED_EPOCHS} epochs x "
                                                             f"{SEED_IMAGES} images"},
                        args.out, "benchmarks.bench_train", argv)
    print(table(rows))
    for mode, seconds in projection.items():
        if seconds is not None:
            print(f"\nprojected wall time of the seed's comparison ({mode}, this device): {seconds / 60:.1f} min")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
