"""How close a training step comes to the machine's matmul speed, and how it compares with timm's model.

One step = forward, backward and the trainer's optimizers (AdamW, plus RiemannianAdam for Stiefel
bases), cross-entropy on the logits in float32, on random images of one shape (default: the
Fashion-MNIST suite's, 28x28x1 in 4x4 patches, depth 4, 4 heads of width 24, mean pooling, batch
128, one thread). Per row: images/s, model FLOPs per image (forward + backward, counted by torch's
FlopCounterMode, attention included on every kernel), the achieved FLOP/s as a fraction of the
matmul peak measured in the same process (float32, and bfloat16 for bf16 rows) at the step's own
matmul shapes, and the speed-up over timm's RoPE-Mixed ViT (Eva) at the same shape, precision and
dropout rate. Every case runs once per round, round after round, so that a load that comes and
goes on a shared machine slows them all alike; each time is a median over the rounds.

The rows cross each model with a precision (fp32; bf16: torch.autocast) and a recipe:

* ``reference``: the computation every committed run made (ViTConfig's defaults: nn.Dropout, SDPA);
* ``fast``: ViTConfig(dropout_impl="fast", attention="auto"): masks from 16-bit draws, attention written
  out on the CPU (math_attention) with those masks on its weights;
* ``fast-sdpa``: the fast masks, but no attention dropout (attn_dropout=0), so SDPA's fused kernel runs;
* ``compiled``: the fast recipe under torch.compile, as `rope-blocks train --compile` runs it (timm's model
  is compiled too for its ratio); by default at dropout 0 only, since each compile takes tens of seconds.

The default rates (0 and 0.1), precisions and the recipes other than ``reference`` are what the suite
may choose from; the reference rows are what it costs today.

    rope-blocks bench step --out results/bench --name step-fashion      # the suite's shape, one thread
    rope-blocks bench step --dropouts 0 --precisions fp32 --reps 5          # a quick look
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time

import torch

from .bench_train import sdpa_kernels
from .common import synchronize
from .step_cases import MODELS, PRECISIONS, RECIPES, SHAPES, TIMM, Case, Shape, cases, foldable, make_step, step_flops

__all__ = ["MODELS", "PRECISIONS", "RECIPES", "SHAPES", "benchmark", "report"]


def matmul_shapes(shape: Shape) -> list[tuple[int, int, int]]:
    """(M, K, N) of the step's linear layers: each forward product and the two of its backward."""
    m, d = shape.batch * shape.tokens, shape.dim
    out = []
    for k, n in ((d, 3 * d), (d, d), (d, shape.mlp_ratio * d), (shape.mlp_ratio * d, d)):
        out += [(m, k, n), (m, n, k), (k, m, n)]
    return sorted(set(out))


def matmul_case(mkn: tuple[int, int, int], dtype: torch.dtype, device: torch.device):
    """(flops, fn): fn() runs the product a few times (a single one takes about a millisecond)."""
    m, k, n = mkn
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(m, k, generator=g, device=device).to(dtype)
    b = torch.randn(k, n, generator=g, device=device).to(dtype)
    calls = 4

    def fn():
        for _ in range(calls):
            torch.mm(a, b)

    return 2 * m * k * n * calls, fn


def interleaved(fns: dict, device: torch.device, warmup: int, reps: int) -> dict:
    """Median seconds of each fn, all run once per round, ``reps`` rounds after ``warmup`` untimed ones."""
    times = {key: [] for key in fns}
    for r in range(warmup + reps):
        for key, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if r >= warmup:
                times[key].append(time.perf_counter() - start)
    return {key: statistics.median(t) for key, t in times.items()}


def peaks(matmuls: dict, seconds: dict) -> tuple[list[dict], dict]:
    """Per-shape rates and the peak of each dtype: the fastest of the step's matmul shapes."""
    rates = [
        {"dtype": dtype, "m": m, "k": k, "n": n, "gflops_per_second": flops / seconds[(dtype, (m, k, n))] / 1e9}
        for (dtype, (m, k, n)), (flops, _) in matmuls.items()
    ]
    best = {}
    for r in rates:
        best[r["dtype"]] = max(best.get(r["dtype"], 0.0), r["gflops_per_second"])
    return rates, best


def timm_key(r: dict) -> tuple:
    return r["precision"], r["dropout"], r["recipe"] == "compiled"


def prepare(todo: list[Case], shape: Shape, device: torch.device, log) -> tuple[dict, dict]:
    """Each case's step function, and its facts: FLOPs, parameters, attention kernels, first step's seconds."""
    steps, facts = {}, {}
    for case in todo:
        torch.manual_seed(0)
        model, step, loss = make_step(case, shape, device)
        start = time.perf_counter()
        step()  # the first step allocates the optimizer state (and compiles): not timed
        first = time.perf_counter() - start
        steps[case] = step
        facts[case] = {
            "flops": step_flops(loss),
            "params": sum(p.numel() for p in model.parameters()),
            "kernels": sdpa_kernels(step) or ["written out"],
            "first_step_seconds": first,
        }
        log(f"  {case.model} {case.precision} dropout {case.dropout:g} {case.recipe}: first step {first:.1f} s")
    return steps, facts


def row(case: Case, shape: Shape, seconds: float, peak: dict, flops: int, params: int, kernels: list, **extra) -> dict:
    rate = flops / seconds / 1e9
    return {
        "model": case.model,
        "fold": case.fold,
        "precision": case.precision,
        "dropout": case.dropout,
        "recipe": case.recipe,
        "batch": shape.batch,
        "params": params,
        "seconds_per_step": seconds,
        "images_per_second": shape.batch / seconds,
        "flops_per_image": flops / shape.batch,
        "gflops_per_second": rate,
        "fraction_of_fp32_peak": rate / peak["fp32"],
        "fraction_of_bf16_peak": rate / peak["bf16"] if case.precision == "bf16" else None,
        "compiled": RECIPES[case.recipe][1],
        "attention": kernels,
        **extra,
    }


def benchmark(
    shape: Shape,
    device: torch.device,
    warmup: int,
    reps: int,
    models_=MODELS,
    precisions=PRECISIONS,
    dropouts=(0.0, 0.1),
    recipes=tuple(RECIPES),
    fold: bool = True,
    timm: bool = True,
    compile_dropouts=(0.0,),
    log=print,
) -> dict:
    """The result file's payload: the matmul peaks, and a row per case with its fraction of them and
    its speed-up over timm's model at the same precision and dropout, eager or compiled alike (``fold``:
    also each foldable model folded; ``timm``: with timm's rows; ``compile_dropouts``: see ``cases``)."""
    names = [*models_, *(f"{m}/fold" for m in models_ if fold and foldable(m))]
    todo = cases(names, precisions, dropouts, recipes, timm, compile_dropouts)
    steps, facts = prepare(todo, shape, device, log)
    dtypes = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if "bf16" in precisions else {})}
    matmuls = {(name, mkn): matmul_case(mkn, dt, device) for name, dt in dtypes.items() for mkn in matmul_shapes(shape)}
    log(f"{len(todo)} steps and {len(matmuls)} matmul shapes, {reps} rounds after {warmup} untimed")
    seconds = interleaved({**steps, **{key: fn for key, (_, fn) in matmuls.items()}}, device, warmup, reps)
    rates, peak = peaks(matmuls, seconds)
    peak.setdefault("bf16", None)
    rows = [row(c, shape, seconds[c], peak, **facts[c]) for c in todo]
    # against timm's model eager, or compiled for the compiled rows
    timm_rows = {timm_key(r): r["seconds_per_step"] for r in rows if r["model"] == TIMM}
    for r in rows:
        base = timm_rows.get(timm_key(r))
        r["speedup_over_timm"] = base / r["seconds_per_step"] if base else None
    gc.collect()
    return {
        "shape": {**dataclasses.asdict(shape), "dim": shape.dim, "tokens": shape.tokens},
        "threads": torch.get_num_threads(),
        "warmup": warmup,
        "reps": reps,
        "peak_gflops_per_second": peak,
        "matmuls": rates,
        "rows": rows,
    }


def attention_label(kernels: list[str]) -> str:
    """The attention that a step ran: "SDPA flash", "SDPA math" or "written out" (math_attention)."""
    kinds = {"SDPA flash" if "flash" in k else "SDPA math" if "math" in k else k.replace("aten::", "") for k in kernels}
    return ", ".join(sorted(kinds))


def table(rows: list[dict]) -> str:
    lines = [
        "| model | precision | dropout | recipe | images/s | GFLOP/image | GFLOP/s | fp32 peak | bf16 peak "
        "| x timm | attention |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        bf16 = f"{r['fraction_of_bf16_peak']:.1%}" if r["fraction_of_bf16_peak"] is not None else "-"
        timm = f"{r['speedup_over_timm']:.2f}" if r["speedup_over_timm"] is not None else "-"
        kernels = attention_label(r["attention"])
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['dropout']:g} | {r['recipe']} | {r['images_per_second']:.0f} | "
            f"{r['flops_per_image'] / 1e9:.3g} | {r['gflops_per_second']:.1f} | {r['fraction_of_fp32_peak']:.1%} | "
            f"{bf16} | {timm} | {kernels} |"
        )
    return "\n".join(lines)


def report(payload: dict) -> str:
    peak = payload["peak_gflops_per_second"]
    bf16 = f", bf16 {peak['bf16']:.0f}" if peak.get("bf16") else ""
    head = f"matmul peak at the step's shapes (GFLOP/s, {payload['threads']} thread(s)): fp32 {peak['fp32']:.0f}{bf16}"
    note = "x timm: timm's step time over this row's (above 1: faster than timm's RoPE-Mixed ViT)"
    return "\n".join([head, "", table(payload["rows"]), "", note])
