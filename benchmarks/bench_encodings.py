"""Cost of the rotated q and k, forward + backward, for every family and block size k.

Two shapes: the seed study's (B=64, H=4, N=1024, D=32) and a ViT-B-like one (B=64, H=12,
N=197, D=64). Everything is reported as a ratio to axial 2x2 RoPE measured in the same run.
Beside the families, two baselines compute the *same* commuting encoding the way the anchors
compute rotations:

* ``comrope-exp``: torch.matrix_exp per token of the dense D x D generator sum, applied as a
  dense D x D product (ComRoPE's algorithm);
* ``liere-exp``: torch.matrix_exp once per position of each k x k block, applied block-wise
  (LieRE's algorithm);

and ``commuting/logits`` is the commuting path that skips the map back out of the plane basis,
which dot-product attention cannot tell apart (theory T5). ``commuting/fold`` folds the basis into
the query and key projections instead (``fold_weight``, ``folded=True``): per token only the planes
turn, and per step each of the two (H * D) x (H * D) projection weights takes one block-diagonal
product with Q, forward and backward (into Q), which the row includes.

    python -m benchmarks.bench_encodings                 # CPU, the full shapes
    python -m benchmarks.bench_encodings --batch 8 --reps 3 --warmup 1   # CPU, `make bench`
    python -m benchmarks.bench_encodings --device cuda   # GPU, bf16 inputs
    python -m benchmarks.bench_encodings --batch 8 --reps 3 --warmup 1 --name encodings-fold \
        --labels axial mixed commuting/cayley commuting/logits commuting/fold   # the folded basis
"""
from __future__ import annotations

import argparse
import math
import sys

import torch

import rope_blocks as rb

from .common import add_run_arguments, median_seconds, memory_bytes, run_device, write_result

SHAPES = {"seed": (64, 4, 1024, 32), "vit_b": (64, 12, 197, 64)}
BLOCK_SIZES = (2, 3, 4, 6, 8, 16, "D")


def grid_positions(n: int) -> torch.Tensor:
    """The first n cells of the smallest square grid that holds them, as (row, col)."""
    side = math.isqrt(n - 1) + 1
    return torch.cartesian_prod(torch.arange(side), torch.arange(side))[:n].float()


class ExpBaseline(torch.nn.Module):
    """A commuting encoding evaluated by matrix exponentials, as the anchors do."""

    def __init__(self, enc: rb.RotaryEncoding, dense: bool):
        super().__init__()
        self.enc, self.dense = enc, dense

    def forward(self, q, k, pos):
        pos = pos.to(torch.float32)
        if self.dense:  # ComRoPE: exp of the D x D generator sum per token, then a D x D product
            rot = torch.linalg.matrix_exp(torch.einsum("na,haij->hnij", pos, self.enc.generators()).contiguous())
            return tuple(torch.einsum("hnij,zhnj->zhni", rot, x.float()).to(x.dtype) for x in (q, k))
        # LieRE: exp of each k x k block once per position, then block-wise products
        nb, bs = self.enc.num_blocks, self.enc.block_size
        dense = self.enc.generators()
        gens = torch.stack([dense[..., b * bs:(b + 1) * bs, b * bs:(b + 1) * bs] for b in range(nb)], dim=-3)
        rot = torch.linalg.matrix_exp(torch.einsum("na,habkl->hnbkl", pos, gens).contiguous())
        out = []
        for x in (q, k):
            xb = x[..., : nb * bs].float().unflatten(-1, (nb, bs))
            turned = torch.einsum("hnbkl,zhnbl->zhnbk", rot, xb).flatten(-2).to(x.dtype)
            out.append(torch.cat((turned, x[..., nb * bs:]), -1))
        return tuple(out)


class FoldedCase(torch.nn.Module):
    """A commuting encoding with its basis folded into the query and key projection weights.

    Returns the folded weights beside q' and k', so that a step also times their products with Q
    and the backward of those products (into Q and the weights), which a ViT pays once per step.
    """

    def __init__(self, enc: rb.RotaryEncoding):
        super().__init__()
        self.enc = enc
        width = enc.num_heads * enc.head_dim  # a ViT's W_q and W_k are (H * D) x width, width = H * D
        self.weights = torch.nn.ParameterList(torch.randn(width, width) / width ** 0.5 for _ in range(2))

    def forward(self, q, k, pos):
        return (*self.enc(q, k, pos, folded=True), *(self.enc.fold_weight(w) for w in self.weights))


def make_case(label: str, k: int, heads: int, dim: int):
    """The module for one row, or None where the design does not fit (e.g. axial blocks with k = D)."""
    if label in ("axial", "mixed"):
        return rb.build(label, head_dim=dim, num_heads=heads) if k == 2 else None
    design = "axial" if dim // k >= 2 else "mixed"  # an axial design needs a block per axis
    if label in ("givens", "weighted"):
        return rb.build(label, head_dim=dim, num_heads=heads, block_size=k) if design == "axial" else None
    if label == "liere":
        return rb.build("liere", head_dim=dim, num_heads=heads, block_size=k)
    basis = "fixed" if label == "commuting/fixed" else "cayley"
    enc = rb.build("commuting", head_dim=dim, num_heads=heads, block_size=k, design=design, basis=basis)
    if label == "comrope-exp":
        return ExpBaseline(enc, dense=True)
    if label == "liere-exp":
        return ExpBaseline(enc, dense=False)
    if label == "commuting/fold":
        return FoldedCase(enc)
    return enc


# The per-token dense exponential costs the same at every k (it never sees the blocks): one k is enough.
ONLY_AT = {"comrope-exp": (8,)}
LABELS = ("axial", "mixed", "givens", "weighted", "commuting/fixed", "commuting/cayley", "commuting/logits",
          "commuting/fold", "liere", "liere-exp", "comrope-exp")


def measure(module, label, shape, device, dtype, warmup, reps) -> tuple[float, int]:
    b, h, n, d = shape
    module = module.to(device)
    g = torch.Generator(device=device).manual_seed(0)
    q, k = (torch.randn(b, h, n, d, generator=g, device=device, dtype=dtype, requires_grad=True) for _ in range(2))
    pos = grid_positions(n).to(device)
    kwargs = {"for_logits": True} if label == "commuting/logits" else {}

    def forward():
        return module(q, k, pos, **kwargs)

    # One gradient per output: q' and k', and for the folded case the folded weights.
    grads = [torch.randn(out.shape, generator=g, device=device, dtype=out.dtype) for out in forward()]

    def step():
        torch.autograd.backward(forward(), grads)
        q.grad = k.grad = None
        module.zero_grad(set_to_none=True)

    return median_seconds(step, device, warmup, reps), memory_bytes(step, forward, device)


def run(shapes: dict, device: torch.device, dtype: torch.dtype, warmup: int, reps: int, labels=LABELS,
        block_sizes=BLOCK_SIZES, log=print) -> list[dict]:
    rows = []
    for shape_name, shape in shapes.items():
        heads, dim = shape[1], shape[3]
        baseline = None
        for label in labels:
            for k in sorted({dim if k == "D" else k for k in ONLY_AT.get(label, block_sizes)}):
                module = make_case(label, k, heads, dim)
                if module is None:
                    continue
                seconds, memory = measure(module, label, shape, device, dtype, warmup, reps)
                if baseline is None:  # the first row of a shape is axial 2x2
                    baseline = (seconds, memory)
                row = {"shape": shape_name, "dims": list(shape), "label": label, "k": k, "seconds": seconds,
                       "memory_bytes": memory,
                       "time_ratio": seconds / baseline[0], "memory_ratio": memory / baseline[1]}
                rows.append(row)
                log(f"{shape_name:<6} {label:<17} k={k:<3} {seconds * 1e3:9.2f} ms  x{row['time_ratio']:6.2f}   "
                    f"{memory / 2**20:8.1f} MiB  x{row['memory_ratio']:5.2f}")
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: a row per design, time and memory ratios to axial 2x2 per shape and k."""
    lines = []
    for shape in dict.fromkeys(r["shape"] for r in rows):
        sub = [r for r in rows if r["shape"] == shape]
        ks = sorted({r["k"] for r in sub})
        dims = "(B, H, N, D) = ({})".format(", ".join(map(str, sub[0]["dims"])))
        lines += [f"\n{shape} {dims}: time (memory) as a multiple of axial 2x2\n",
                  "| design | " + " | ".join(f"k={k}" for k in ks) + " |",
                  "| --- |" + " --- |" * len(ks)]
        for label in dict.fromkeys(r["label"] for r in sub):
            cells = {r["k"]: f"{r['time_ratio']:.2f} ({r['memory_ratio']:.2f})" for r in sub if r["label"] == label}
            lines.append(f"| {label} | " + " | ".join(cells.get(k, "-") for k in ks) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, batch=64, name="encodings")
    parser.add_argument("--block_sizes", nargs="+", default=BLOCK_SIZES, type=lambda k: k if k == "D" else int(k),
                        help="block sizes k to measure; D is the whole head (default: %(default)s)")
    parser.add_argument("--labels", nargs="+", default=LABELS, choices=LABELS, metavar="LABEL",
                        help="designs to measure, axial first (it is the baseline); default all: %(default)s")
    args = parser.parse_args(argv)
    device = run_device(args, parser)
    if args.labels[0] != "axial":
        parser.error("--labels must start with axial: every ratio is to axial 2x2 measured in the same run")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    shapes = {name: (args.batch, *shape[1:]) for name, shape in SHAPES.items()}
    torch.manual_seed(0)
    rows = run(shapes, device, dtype, args.warmup, args.reps, labels=args.labels, block_sizes=args.block_sizes)
    path = write_result(args.name, device, {"shapes": shapes, "dtype": str(dtype), "rows": rows}, args.out,
                        "benchmarks.bench_encodings", argv)
    print(table(rows))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
