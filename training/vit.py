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

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


class Attention(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.heads, self.dim_head, self.dropout = cfg.heads, cfg.dim_head, cfg.dropout
        self.fold_basis = cfg.fold_basis
        inner = cfg.heads * cfg.dim_head
        self.qkv = nn.Linear(cfg.dim, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, cfg.dim)
        self.proj_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, enc, pos, num_prefix_tokens):
        b, n, _ = x.shape
        folded = enc is not None and self.fold_basis
        qkv = F.linear(x, self.folded_weight(enc)) if folded else self.qkv(x)
        q, k, v = qkv.view(b, n, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        if enc is not None:
            # Attention sees q and k only through dot products, so the encoding may leave them in
            # its plane basis and skip the map back (theory T5): the same logits, less work.
            # Folded, W_q and W_k already map into the plane basis and only the planes turn.
            q, k = enc(q, k, pos, num_prefix_tokens=num_prefix_tokens, folded=folded, for_logits=not folded)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(b, n, -1)))

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
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.mlp_dim, cfg.dim),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x, enc, pos, num_prefix_tokens):
        x = x + self.attn(self.norm1(x), enc, pos, num_prefix_tokens)
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.dim, cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim)) if cfg.pool == "cls" else None
        self.pos_embed = None
        if cfg.family == "none":
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.dim, cfg.grid, cfg.grid))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self.apply(_init_weights)
        for p in (self.cls_token, self.pos_embed):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        # Built after the init above so that the encodings keep their own initialisation.
        self.encodings = nn.ModuleList()
        if cfg.family != "none":
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

    def forward(self, x):
        x = self.patch_embed(x)
        rows, cols = x.shape[-2:]
        if self.pos_embed is not None:
            x = x + self._pos_embed(rows, cols)
        x = x.flatten(2).transpose(1, 2)
        n_prefix = 0
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
            n_prefix = 1
        x = self.drop(x)
        pos = rb.grid_positions(rows, cols, self.cfg.n_axes, self.cfg.pos_scale, device=x.device)
        for i, block in enumerate(self.blocks):
            enc = self.encodings[0 if self.cfg.share_encoding else i] if len(self.encodings) else None
            x = block(x, enc, pos, n_prefix)
        x = self.norm(x)
        x = x[:, 0] if n_prefix else x.mean(dim=1)
        return self.head(x)

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
