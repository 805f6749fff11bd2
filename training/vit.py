"""A pre-norm Vision Transformer whose attention takes any rope_blocks encoding.

Queries and keys of the patch tokens are rotated by the encoding before
`scaled_dot_product_attention`; values are not, and the class token is a prefix
token without a position (the encoding's ``num_prefix_tokens``). Only the `none`
family gets a learned absolute position embedding, which is resized when the
input grid differs from training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

import rope_blocks as rb

DROPOUT_IMPLS = ("torch", "fast")
ATTENTIONS = ("sdpa", "math", "auto")


@dataclass
class ViTConfig:
    image_size: int = 32  # side of the training images; sets the absolute embedding's grid
    in_chans: int = 3
    num_classes: int = 10
    patch_size: int = 1
    dim: int = 128
    depth: int = 4
    heads: int = 4
    dim_head: int = 32
    mlp_dim: int = 256
    dropout: float = 0.0
    family: str = "none"  # a rope_blocks family
    n_axes: int = 2  # 1: raster index of the patch, 2: (row, col)
    block_size: int = 2
    enc_options: dict = field(default_factory=dict)
    pos_scale: float = 1.0  # positions = grid coordinates * pos_scale (LieRE: 1 / (grid side - 1))
    pool: str = "cls"  # "cls": class token, "mean": mean of the patch tokens
    share_encoding: bool = False  # one encoding for all layers instead of one per layer
    fold_basis: bool = False  # planar families: fold the basis Q^T into W_q, W_k once per step (theory T5)
    # Opt-in speed (the defaults are the computation every committed run made; other values draw other masks):
    dropout_impl: str = "torch"  # "torch": nn.Dropout's bernoulli_ masks; "fast": masks from 16-bit draws
    attn_dropout: float | None = None  # dropout of the attention weights; None: `dropout`
    attention: str = "sdpa"  # "sdpa", "math" (softmax(q k^T / sqrt(D)) v written out) or "auto"
    # Content only: the normalised value of a blank pixel, per channel; a patch token that is blank
    # everywhere takes no part in attention or pooling (ViT.forward's keep). None: every token does.
    blank_value: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image size {self.image_size} is not a multiple of patch_size {self.patch_size}; "
                "pick an input size that the patch size divides."
            )
        if self.pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {self.pool!r}.")
        if self.n_axes not in (1, 2):
            raise ValueError(f"a ViT on images uses n_axes 1 (raster index) or 2 (row, col), got {self.n_axes}.")
        for name, choices in (("dropout_impl", DROPOUT_IMPLS), ("attention", ATTENTIONS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {getattr(self, name)!r}.")
        for name in ("dropout", "attn_dropout"):
            p = getattr(self, name)
            if p is not None and not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")

    @property
    def attn_p(self) -> float:
        """The dropout rate of the attention weights."""
        return self.dropout if self.attn_dropout is None else self.attn_dropout

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


POSITIONS = ("grid", "rescaled")  # the position conventions of ViT.forward on another grid


class _ScaledMask(torch.autograd.Function):
    """x * mask * scale, keeping only the mask for the backward pass (torch's dropout keeps the same)."""

    @staticmethod
    def forward(ctx, x, mask, scale: float):
        ctx.save_for_backward(mask)
        ctx.scale = scale
        out = torch.mul(x, mask)
        return out if scale == 1.0 else out.mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        out = torch.mul(grad, mask)
        return (out if ctx.scale == 1.0 else out.mul_(ctx.scale)), None, None


def fast_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout from 16-bit draws, four to each 64-bit number of torch's generator.

    Each element is dropped with probability round(p * 2^16) / 2^16 (p = 0.1: 0.100006), independently,
    and the kept ones are scaled by the inverse of the keep rate, as nn.Dropout does. The draws come from
    torch's default generator (torch.manual_seed and the checkpoints' RNG state cover them), but they
    are not torch's bernoulli_ draws, so the masks differ from nn.Dropout's. On one CPU core it costs
    about a third of nn.Dropout (benchmarks/bench_step.py measures both).
    """
    cut = round(p * 65536)
    if cut == 0:
        return x
    if cut == 65536:
        return x * 0.0
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    keep = words.view(torch.int16)[:n].view(x.shape) >= cut - 32768  # int16 draws are uniform on [-2^15, 2^15)
    scale = 65536 / (65536 - cut)
    mask = keep.view(torch.uint8).to(x.dtype)
    if x.dtype in (torch.float32, torch.float64):  # the scale folded into the mask: one product each way
        return _ScaledMask.apply(x, mask.mul_(scale), 1.0)
    return _ScaledMask.apply(x, mask, scale)  # bf16, fp16: scaled in float, rounded once


class FastDropout(nn.Module):
    """nn.Dropout with ``fast_dropout``'s masks (ViTConfig.dropout_impl = "fast")."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        return fast_dropout(x, self.p) if self.training and self.p > 0 else x

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout_layer(p: float, impl: str) -> nn.Module:
    return FastDropout(p) if impl == "fast" else nn.Dropout(p)


def math_attention(q, k, v, p: float, dropout, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v written out (ViTConfig.attention = "math", or "auto" on the CPU).

    Under bf16 autocast the products run in bf16 and the softmax computes in float32 inside its kernel
    and returns bf16 weights, as SDPA's kernels hand them to the second product. On one CPU core at the
    ViTs' sizes this beats SDPA's fused kernel in bf16 several times over (its backward is slow there)
    and matches it in float32, and it lets attention dropout use ``fast_dropout``.
    """
    logits = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))
    weights = (logits if mask is None else logits.masked_fill(~mask, float("-inf"))).softmax(-1)
    if p > 0:
        weights = dropout(weights, p)
    return torch.matmul(weights, v)


class Attention(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.heads, self.dim_head, self.dropout = cfg.heads, cfg.dim_head, cfg.attn_p
        self.fold_basis, self.attention, self.dropout_impl = cfg.fold_basis, cfg.attention, cfg.dropout_impl
        inner = cfg.heads * cfg.dim_head
        self.qkv = nn.Linear(cfg.dim, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, cfg.dim)
        self.proj_drop = dropout_layer(cfg.dropout, cfg.dropout_impl)

    def forward(self, x, enc, pos, num_prefix_tokens, mask=None):
        b, n, _ = x.shape
        folded = enc is not None and self.fold_basis
        qkv = F.linear(x, self.folded_weight(enc)) if folded else self.qkv(x)
        # (B, N, H, D) views, then (B, H, N, D): the same q, k, v as one permute, but the backward stacks
        # their gradients straight into qkv's layout (one copy, where the permute's backward needs two)
        q, k, v = (t.transpose(1, 2) for t in qkv.view(b, n, 3, self.heads, self.dim_head).unbind(2))
        if enc is not None:
            # Attention sees q and k only through dot products, so the encoding may leave them in
            # its plane basis and skip the map back (theory T5): the same logits, less work.
            # Folded, W_q and W_k already map into the plane basis and only the planes turn.
            q, k = enc(q, k, pos, num_prefix_tokens=num_prefix_tokens, folded=folded, for_logits=not folded)
        p = self.dropout if self.training else 0.0
        if self.written_out(q):
            y = math_attention(q, k, v, p, fast_dropout if self.dropout_impl == "fast" else F.dropout, mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(b, n, -1)))

    def written_out(self, q: torch.Tensor) -> bool:
        """Whether attention runs as ``math_attention``: "auto" takes it on the CPU, SDPA elsewhere."""
        if self.attention == "auto":
            return q.device.type == "cpu"
        return self.attention == "math"

    def folded_weight(self, enc) -> torch.Tensor:
        """(3 * H * D, dim) the qkv weight with the basis folded into its q and k rows (v unchanged)."""
        wq, wk, wv = self.qkv.weight.chunk(3)
        return torch.cat((enc.fold_weight(wq), enc.fold_weight(wk), wv))


class Block(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dim, cfg.mlp_dim),
            nn.GELU(),
            dropout_layer(cfg.dropout, cfg.dropout_impl),
            nn.Linear(cfg.mlp_dim, cfg.dim),
            dropout_layer(cfg.dropout, cfg.dropout_impl),
        )

    def forward(self, x, enc, pos, num_prefix_tokens, mask=None):
        x = x + self.attn(self.norm1(x), enc, pos, num_prefix_tokens, mask)
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.dim, cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim)) if cfg.pool == "cls" else None
        self.pos_embed = None
        rotary = rb.family_class(cfg.family).rotates  # without rotations, a learned absolute embedding
        if not rotary:
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.dim, cfg.grid, cfg.grid))
        self.drop = dropout_layer(cfg.dropout, cfg.dropout_impl)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self.apply(_init_weights)
        for p in (self.cls_token, self.pos_embed):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        # Built after the init above so that the encodings keep their own initialisation.
        self.encodings = nn.ModuleList()
        if rotary:
            self.encodings.extend(
                rb.build(
                    cfg.family,
                    head_dim=cfg.dim_head,
                    num_heads=cfg.heads,
                    n_axes=cfg.n_axes,
                    block_size=cfg.block_size,
                    **cfg.enc_options,
                )
                for _ in range(1 if cfg.share_encoding else cfg.depth)
            )
        if cfg.fold_basis and not (len(self.encodings) and self.encodings[0].has_plane_basis):
            raise ValueError(
                f"fold_basis=True folds the plane basis of a planar family (axial, mixed, givens, commuting) "
                f"into W_q and W_k; family {cfg.family!r} has none. Use fold_basis=False."
            )

    def forward(self, x, positions: str = "grid", keep: torch.Tensor | None = None):
        """(B, C, H, W) images -> (B, num_classes) logits.

        keep: optional (B, rows * cols) bool, the patch tokens that take part (e.g. those with content):
            the others are masked out of attention as keys and out of the mean pooling, so the logits
            depend on the kept tokens alone (a class token always takes part). With a relative encoding
            they are then invariant, up to rounding, when the kept tokens move together by whole patches.
        positions: on a patch grid other than the training one, "grid" keeps the training grid's
            coordinates and spacing (the rotary encodings extrapolate to offsets never seen), while
            "rescaled" spreads the new grid over the training grid's extent (they interpolate, as the
            absolute embedding, which is always resampled, does). Equal on the training grid.
        """
        if positions not in POSITIONS:
            raise ValueError(f"positions={positions!r} is not one of {', '.join(map(repr, POSITIONS))}.")
        if keep is None and self.cfg.blank_value is not None:
            keep = self.content_tokens(x)
        x = self.patch_embed(x)
        rows, cols = x.shape[-2:]
        if self.pos_embed is not None:
            x = x + self._pos_embed(rows, cols)
        x = x.flatten(2).transpose(1, 2)
        n_prefix = 0
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
            n_prefix = 1
        # Contiguous after the dropout (whose masks follow the memory order): without a class token the
        # tokens keep the patch embedding's channels-first memory, and every LayerNorm and Linear would copy.
        x = self.drop(x).contiguous()
        pos = rb.grid_positions(rows, cols, self.cfg.n_axes, self.cfg.pos_scale, device=x.device)
        if positions == "rescaled" and (rows, cols) != (self.cfg.grid, self.cfg.grid):
            pos = pos * self._rescale(rows, cols, x.device)
        mask = None if keep is None else self._key_mask(keep, rows * cols, n_prefix)
        for i, block in enumerate(self.blocks):
            enc = self.encodings[0 if self.cfg.share_encoding else i] if len(self.encodings) else None
            x = block(x, enc, pos, n_prefix, mask)
        x = self.norm(x)
        if n_prefix:
            x = x[:, 0]
        elif keep is None:
            x = x.mean(dim=1)
        else:
            x = (x * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True)
        return self.head(x)

    def content_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, rows * cols) bool: the patches of normalised images ``x`` with a pixel other than blank
        (ViTConfig.blank_value); an image without any keeps every token."""
        blank = torch.tensor(self.cfg.blank_value, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        ink = ((x - blank).abs() > 1e-4).any(1, keepdim=True)
        keep = F.max_pool2d(ink.to(x.dtype), self.cfg.patch_size).flatten(1) > 0
        return keep | ~keep.any(1, keepdim=True)

    @staticmethod
    def _key_mask(keep: torch.Tensor, n_patches: int, n_prefix: int) -> torch.Tensor:
        """(B, 1, 1, N) bool: the keys every query may attend to, from ``keep`` (B, n_patches)."""
        if keep.dtype != torch.bool or keep.shape[1:] != (n_patches,) or not bool(keep.any(1).all()):
            raise ValueError(
                f"keep must be a (batch, {n_patches}) bool tensor with at least one True per image "
                f"(one per patch token), got {tuple(keep.shape)} {keep.dtype}."
            )
        prefix = keep.new_ones(keep.shape[0], n_prefix)
        return torch.cat((prefix, keep), dim=1)[:, None, None, :]

    def _rescale(self, rows: int, cols: int, device) -> torch.Tensor:
        """Per-axis factors that map a rows x cols grid onto the training grid's extent."""
        side = self.cfg.grid - 1
        if self.cfg.n_axes == 1:  # the raster index: scale by the number of cells
            return torch.tensor([(self.cfg.grid**2 - 1) / max(rows * cols - 1, 1)], device=device)
        return torch.tensor([side / max(rows - 1, 1), side / max(cols - 1, 1)], device=device)

    def _pos_embed(self, rows, cols):
        if (rows, cols) == tuple(self.pos_embed.shape[-2:]):
            return self.pos_embed
        # A different input size: resample the learned grid, as timm does for absolute embeddings.
        return F.interpolate(self.pos_embed, size=(rows, cols), mode="bicubic", align_corners=False)

    def no_weight_decay(self) -> set[str]:
        names = {n for n in ("cls_token", "pos_embed") if getattr(self, n) is not None}
        for i, enc in enumerate(self.encodings):
            names |= {f"encodings.{i}.{n}" for n in enc.no_weight_decay()}
        return names


def _init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
