"""The model registry: every named ViT, as a variant (which encoding) at a size (how big).

Names are `vit_<variant>_<size>`. The variants are the seed's 11 rows (same names,
with true grid coordinates) plus the families the seed lacked (mixed, commuting,
liere). The sizes:

* `cifar10`: the seed's configuration (depth 4, 4 heads, mlp 2x width, patch 1,
  dropout 0.25); like the seed, the head width grows with the block size k to the
  smallest multiple of 2k that is >= 32 (so k = 3, 6 -> 36 and k = 5 -> 40).
* `digits`: the same rule at CPU scale for the 8x8 digits (depth 2, 2 heads, >= 16).
* `matched_cifar10`, `matched_digits`: one width and depth for every model (head
  width 48 or 24, which every k except 5 divides twice over), so parameter counts
  differ only by the encodings' own parameters.
* `digits_canvas`: the matched digits model for the translation test on 16x16
  canvases: 2x2 patches (an 8x8 grid, as many tokens as the 8x8 digits) and mean
  pooling, so that no token without a position (the class token) reads absolute
  positions through the rotated keys.
* `probe_diagonal`, `probe_shift`, `probe_extrapolate`, `probe_extrapolate_cls`: the
  matched width for the generated probe tasks (training/probes.py), named after the task
  they train on: depth 1 for the diagonal task (one attention layer must find the
  relation), 2x2 patches for the shift task, and the extrapolation task with mean pooling
  and with a class token.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .vit import ViT, ViTConfig


@dataclass(frozen=True)
class Variant:
    family: str
    n_axes: int = 2
    block_size: int = 2
    options: dict = field(default_factory=dict)
    unit_positions: bool = False  # LieRE's convention: the training grid spans [0, 1]


@dataclass(frozen=True)
class Size:
    depth: int
    heads: int
    min_dim_head: int
    dropout: float
    matched: bool  # one head width for every variant instead of growing with k
    patch_size: int = 1  # the seed's: every pixel is a token
    pool: str = "cls"


SIZES = {
    "cifar10": Size(depth=4, heads=4, min_dim_head=32, dropout=0.25, matched=False),
    "digits": Size(depth=2, heads=2, min_dim_head=16, dropout=0.1, matched=False),
    "matched_cifar10": Size(depth=4, heads=4, min_dim_head=48, dropout=0.25, matched=True),
    "matched_digits": Size(depth=2, heads=2, min_dim_head=24, dropout=0.1, matched=True),
    "digits_canvas": Size(depth=2, heads=2, min_dim_head=24, dropout=0.1, matched=True, patch_size=2, pool="mean"),
    "probe_diagonal": Size(depth=1, heads=2, min_dim_head=24, dropout=0.0, matched=True, pool="mean"),
    "probe_shift": Size(depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True, patch_size=2, pool="mean"),
    "probe_extrapolate": Size(depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True, pool="mean"),
    "probe_extrapolate_cls": Size(depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True),
}


def _variants() -> dict[str, Variant]:
    v = {
        "no_rope": Variant("none"),
        "rope_1D_axial_2x2": Variant("axial", n_axes=1),
        "rope_2D_axial_2x2": Variant("axial"),
    }
    # The seed's `_0/_1/_2` name the plane of each k x k block that rotates.
    for j, plane in enumerate([(0, 1), (0, 2), (1, 2)]):
        v[f"rope_2D_axial_3x3_{j}"] = Variant("givens", block_size=3, options={"plane": plane})
    for k in (4, 5, 6):
        v[f"rope_2D_axial_{k}x{k}_0"] = Variant("givens", block_size=k, options={"plane": (0, 1)})
    for k in (3, 4):
        v[f"weighted_rope_2D_axial_{k}x{k}"] = Variant("weighted", block_size=k)
    assert len(v) == 11  # the seed's rows end here: SEED_VARIANTS below relies on the order
    v["mixed_rope_2D_2x2"] = Variant("mixed")
    for design in ("axial", "mixed"):
        for k in (2, 3, 4, 6, 8):
            v[f"commuting_{design}_rope_2D_{k}x{k}"] = Variant(
                "commuting", block_size=k, options={"design": design, "basis": "stiefel"})
    for k in (2, 4, 8):
        v[f"liere_rope_2D_{k}x{k}"] = Variant("liere", block_size=k, unit_positions=True)
    return v


VARIANTS = _variants()
SEED_VARIANTS = tuple(VARIANTS)[:11]  # the seed study's 11 rows, in its order


def _dim_head(variant: Variant, size: Size) -> int | None:
    """Head width, or None when the variant's blocks do not tile the matched width."""
    # The seed's layout gives each of two axes half the head, cut into k-blocks, so 2k
    # divides its head width; commuting and LieRE blocks only need k to divide it.
    if size.matched:
        step = variant.block_size if variant.family in ("commuting", "liere") else 2 * variant.block_size
        return size.min_dim_head if size.min_dim_head % step == 0 else None
    step = 2 * variant.block_size
    return -(-size.min_dim_head // step) * step


def _registry() -> dict[str, tuple[Variant, Size, int]]:
    out = {}
    for size_name, size in SIZES.items():
        for variant_name, variant in VARIANTS.items():
            dim_head = _dim_head(variant, size)
            if dim_head is not None:
                out[f"vit_{variant_name}_{size_name}"] = (variant, size, dim_head)
    return out


REGISTRY = _registry()


def size_of(name: str) -> str:
    """The size name of a registered model (`digits`, `matched_digits`, ...)."""
    return next(size_name for size_name, size in SIZES.items() if size is REGISTRY[name][1])


def model_names(size: str | None = None) -> list[str]:
    return [n for n, (_, s, _) in REGISTRY.items() if size is None or s is SIZES[size]]


def check_name(name: str) -> None:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"unknown model '{name}'.{hint} `rope-blocks train --list_models` lists all {len(REGISTRY)} names."
        )


def model_config(name: str, *, image_size: int, in_chans: int, num_classes: int,
                 dropout: float | None = None) -> ViTConfig:
    check_name(name)
    variant, size, dim_head = REGISTRY[name]
    grid = image_size // size.patch_size
    dim = size.heads * dim_head
    return ViTConfig(
        image_size=image_size, in_chans=in_chans, num_classes=num_classes, patch_size=size.patch_size,
        pool=size.pool,
        dim=dim, depth=size.depth, heads=size.heads, dim_head=dim_head, mlp_dim=2 * dim,
        dropout=size.dropout if dropout is None else dropout,
        family=variant.family, n_axes=variant.n_axes, block_size=variant.block_size,
        enc_options=dict(variant.options),
        pos_scale=1.0 / max(grid - 1, 1) if variant.unit_positions else 1.0,
    )


def build_model(name: str, **kwargs) -> ViT:
    return ViT(model_config(name, **kwargs))
