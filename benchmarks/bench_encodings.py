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

    rope-blocks bench encodings --out results/bench                  # CPU, the full shapes
    rope-blocks bench encodings --batch 8 --reps 3 --warmup 1 --out results/bench   # CPU, `make bench`
    rope-blocks bench encodings --device cuda --out results/bench    # GPU, bf16 inputs
    rope-blocks bench encodings --batch 8 --reps 3 --warmup 1 --name encodings-fold --out results/bench \\
        --labels axial mixed commuting/cayley commuting/logits commuting/fold   # the folded basis
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

import rope_blocks as rb

from .common import median_seconds, memory_bytes

SHAPES = {"seed": (64, 4, 1024, 32), "vit_b": (64, 12, 197, 64)}
BLOCK_SIZES = (2, 3, 4, 6, 8, 16, "D")
N_AXES = 2  # an image grid


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
        gens = torch.stack([dense[..., b * bs : (b + 1) * bs, b * bs : (b + 1) * bs] for b in range(nb)], dim=-3)
        rot = torch.linalg.matrix_exp(torch.einsum("na,habkl->hnbkl", pos, gens).contiguous())
        out = []
        for x in (q, k):
            xb = x[..., : nb * bs].float().unflatten(-1, (nb, bs))
            turned = torch.einsum("hnbkl,zhnbl->zhnbk", rot, xb).flatten(-2).to(x.dtype)
            out.append(torch.cat((turned, x[..., nb * bs :]), -1))
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
        self.weights = torch.nn.ParameterList(torch.randn(width, width) / width**0.5 for _ in range(2))

    def forward(self, q, k, pos):
        return (*self.enc(q, k, pos, folded=True), *(self.enc.fold_weight(w) for w in self.weights))


@dataclass(frozen=True)
class Case:
    """A row's encoding: a family with options, the module that runs it, and the keywords of its call.

    The labels name a basis and a path of one family (``commuting/logits``), not a design: the
    commuting design is chosen per k (``make_case``). They stay as the committed results spell them.
    """

    family: str
    options: dict = field(default_factory=dict)
    wrap: Callable[[rb.RotaryEncoding], torch.nn.Module] | None = None
    call: dict = field(default_factory=dict)


LEARNED = {"basis": "cayley"}
CASES = {
    "axial": Case("axial"),
    "mixed": Case("mixed"),
    "givens": Case("givens"),
    "weighted": Case("weighted"),
    "commuting/fixed": Case("commuting", {"basis": "fixed"}),
    "commuting/cayley": Case("commuting", LEARNED),
    "commuting/logits": Case("commuting", LEARNED, call={"for_logits": True}),
    "commuting/fold": Case("commuting", LEARNED, wrap=FoldedCase),
    "liere": Case("liere"),
    "liere-exp": Case("commuting", LEARNED, wrap=lambda enc: ExpBaseline(enc, dense=False)),
    "comrope-exp": Case("commuting", LEARNED, wrap=lambda enc: ExpBaseline(enc, dense=True)),
}
LABELS = tuple(CASES)
# The per-token dense exponential costs the same at every k (it never sees the blocks): one k is enough.
ONLY_AT = {"comrope-exp": (8,)}


def make_case(label: str, k: int, heads: int, dim: int) -> torch.nn.Module | None:
    """The module for one row, or None where the family does not fit (e.g. the seed's Givens blocks with k = D)."""
    case = CASES[label]
    cls = rb.family_class(case.family)
    if cls.block_sizes is not None and k not in cls.block_sizes:
        return None
    if dim // k < cls.tiling_blocks:  # the seed's layout gives each axis its own blocks: k = D leaves one
        return None
    options = dict(case.options)
    if cls.designs:  # an axial design needs a block per axis; with fewer, every plane follows both axes
        options["design"] = "axial" if dim // k >= N_AXES else "mixed"
    enc = rb.build(case.family, head_dim=dim, num_heads=heads, n_axes=N_AXES, block_size=k, **options)
    return case.wrap(enc) if case.wrap else enc


def token_positions(n: int) -> torch.Tensor:
    """The first n cells of the smallest square grid that holds them, as (row, col)."""
    side = math.isqrt(n - 1) + 1
    return rb.grid_positions(side, side)[:n]


def measure(module, label, shape, device, dtype, warmup, reps) -> tuple[float, int]:
    b, h, n, d = shape
    module = module.to(device)
    g = torch.Generator(device=device).manual_seed(0)
    q, k = (torch.randn(b, h, n, d, generator=g, device=device, dtype=dtype, requires_grad=True) for _ in range(2))
    pos = token_positions(n).to(device)

    def forward():
        return module(q, k, pos, **CASES[label].call)

    # One gradient per output: q' and k', and for the folded case the folded weights.
    grads = [torch.randn(out.shape, generator=g, device=device, dtype=out.dtype) for out in forward()]

    def step():
        torch.autograd.backward(forward(), grads)
        q.grad = k.grad = None
        module.zero_grad(set_to_none=True)

    return median_seconds(step, device, warmup, reps), memory_bytes(step, forward, device)


def run_encodings(
    shapes: dict,
    device: torch.device,
    dtype: torch.dtype,
    warmup: int,
    reps: int,
    labels=LABELS,
    block_sizes=BLOCK_SIZES,
    log=print,
) -> list[dict]:
    """A row per shape, label and k, timed and sized, with its ratios to the shape's first row (axial 2x2)."""
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
                if baseline is None:
                    baseline = (seconds, memory)
                row = {
                    "shape": shape_name,
                    "dims": list(shape),
                    "label": label,
                    "k": k,
                    "seconds": seconds,
                    "memory_bytes": memory,
                    "time_ratio": seconds / baseline[0],
                    "memory_ratio": memory / baseline[1],
                }
                rows.append(row)
                log(
                    f"{shape_name:<6} {label:<17} k={k:<3} {seconds * 1e3:9.2f} ms  x{row['time_ratio']:6.2f}   "
                    f"{memory / 2**20:8.1f} MiB  x{row['memory_ratio']:5.2f}"
                )
    return rows


def benchmark(device: torch.device, batch: int, warmup: int, reps: int, labels=LABELS, block_sizes=BLOCK_SIZES) -> dict:
    """The result file's payload: both shapes at batch ``batch``, bf16 inputs on CUDA and float32 on the CPU."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    shapes = {name: (batch, *shape[1:]) for name, shape in SHAPES.items()}
    torch.manual_seed(0)
    rows = run_encodings(shapes, device, dtype, warmup, reps, labels=labels, block_sizes=block_sizes)
    return {"shapes": shapes, "dtype": str(dtype), "rows": rows}


def table(rows: list[dict]) -> str:
    """Markdown: a row per label, time and memory ratios to axial 2x2 per shape and k."""
    lines = []
    for shape in dict.fromkeys(r["shape"] for r in rows):
        sub = [r for r in rows if r["shape"] == shape]
        ks = sorted({r["k"] for r in sub})
        dims = "(B, H, N, D) = ({})".format(", ".join(map(str, sub[0]["dims"])))
        lines += [
            f"\n{shape} {dims}: time (memory) as a multiple of axial 2x2\n",
            "| design | " + " | ".join(f"k={k}" for k in ks) + " |",
            "| --- |" + " --- |" * len(ks),
        ]
        for label in dict.fromkeys(r["label"] for r in sub):
            cells = {r["k"]: f"{r['time_ratio']:.2f} ({r['memory_ratio']:.2f})" for r in sub if r["label"] == label}
            lines.append(f"| {label} | " + " | ".join(cells.get(k, "-") for k in ks) + " |")
    return "\n".join(lines)


def report(payload: dict) -> str:
    return table(payload["rows"])
