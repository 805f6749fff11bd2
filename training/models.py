"""The model registry: every named ViT, as a variant (which encoding) at a size (how big).

Names are `vit_<variant>_<size>` (records.model_id formats and parses them). The variants are
the seed's 11 rows (same names, with true grid coordinates) plus the families the seed lacked
(mixed, commuting, liere). The sizes:

* `cifar10`: the seed's configuration (depth 4, 4 heads, mlp 2x width, patch 1,
  dropout 0.25); like the seed, the head width grows with the block size k to the
  smallest multiple of 2k that is >= 32 (so k = 3, 6 -> 36 and k = 5 -> 40).
* `digits`: the same rule at CPU scale for the 8x8 digits (depth 2, 2 heads, >= 16).
* `matched_cifar10`, `matched_digits`: one width and depth for every model (head
  width 48 or 24, which every k except 5 divides twice over), so parameter counts
  differ only by the encodings' own parameters.
* `fashion`: Fashion-MNIST's 28x28 images in 4x4 patches (a 7x7 grid), depth 4, 4 heads of
  width 24 (every k but 5 tiles it), no dropout, mean pooling over the patches (no class token:
  its unrotated query would read absolute positions through the rotated keys).
* `probe_diagonal_content`, `probe_extrapolate_content`: the diagonal and extrapolation tasks (depth 1
  and 2, mean pooling) on their content tokens only (the diagonal one at head width 48, where every
  axial design splits its planes evenly between the axes).
* `probe_quadrant`, `probe_quadrant_content`: the translation task with a held-out quadrant (2x2
  patches, mean pooling), with the blank tokens in attention, and out of it (content only).
* `probe_extrapolate`: the extrapolation task with the blank tokens in attention (depth 2, mean pooling).

How a head tiles into blocks and whether positions are normalised to [0, 1] are the
families' own facts (rope_blocks: ``tiling_blocks``, ``unit_positions``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import rope_blocks as rb
from records.model_id import SEED_PLANES, ModelId, Variant

from .vit import ViT, ViTConfig

# Options the zoo adds to a family's defaults: it learns the commuting basis on the Stiefel manifold.
ZOO_OPTIONS = {"commuting": {"basis": "stiefel"}}


@dataclass(frozen=True)
class Size:
    depth: int
    heads: int
    min_dim_head: int
    dropout: float
    matched: bool  # one head width for every variant instead of growing with k
    patch_size: int = 1  # the seed's: every pixel is a token
    pool: str = "cls"
    attention: str = "sdpa"  # training.vit.ATTENTIONS
    content_only: bool = False  # blank patch tokens take no part (ViTConfig.blank_value, from the data)


SIZES = {
    "cifar10": Size(depth=4, heads=4, min_dim_head=32, dropout=0.25, matched=False),
    "digits": Size(depth=2, heads=2, min_dim_head=16, dropout=0.1, matched=False),
    "matched_cifar10": Size(depth=4, heads=4, min_dim_head=48, dropout=0.25, matched=True),
    "matched_digits": Size(depth=2, heads=2, min_dim_head=24, dropout=0.1, matched=True),
    # "auto": attention written out on the CPU, where SDPA's bf16 kernels run 2.4x slower
    # (results/bench/cpu-step-fashion.json), and SDPA on GPUs.
    "fashion": Size(
        depth=4, heads=4, min_dim_head=24, dropout=0.0, matched=True, patch_size=4, pool="mean", attention="auto"
    ),
    # Head width 48: every axial design at k = 2, 3, 4, 6, 8 gives both axes the same number of planes.
    "probe_diagonal_content": Size(
        depth=1, heads=2, min_dim_head=48, dropout=0.0, matched=True, pool="mean", content_only=True
    ),
    "probe_extrapolate_content": Size(
        depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True, pool="mean", content_only=True
    ),
    "probe_extrapolate": Size(depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True, pool="mean"),
    "probe_quadrant": Size(depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True, patch_size=2, pool="mean"),
    "probe_quadrant_content": Size(
        depth=2, heads=2, min_dim_head=24, dropout=0.0, matched=True, patch_size=2, pool="mean", content_only=True
    ),
}

# The seed study's 11 rows, in its order: no encoding, 1D and 2D axial RoPE, its Givens k x k
# blocks (the 3x3 rows name the rotating plane) and its weighted blocks.
SEED_VARIANTS = (
    Variant("none"),
    Variant("axial", n_axes=1),
    Variant("axial"),
    *(Variant("givens", block_size=3, plane=plane) for plane in SEED_PLANES),
    *(Variant("givens", block_size=k, plane=(0, 1)) for k in (4, 5, 6)),
    *(Variant("weighted", block_size=k) for k in (3, 4)),
)
NEW_VARIANTS = (
    Variant("mixed"),
    *(Variant("commuting", block_size=k, design=d) for d in ("axial", "mixed") for k in (2, 3, 4, 6, 8)),
    *(Variant("liere", block_size=k) for k in (2, 4, 8)),
)
VARIANTS = {str(v): v for v in SEED_VARIANTS + NEW_VARIANTS}


def _dim_head(variant: Variant, size: Size) -> int | None:
    """Head width, or None when the variant's blocks do not tile the matched width."""
    step = variant.block_size * rb.family_class(variant.family).tiling_blocks
    if size.matched:
        return size.min_dim_head if size.min_dim_head % step == 0 else None
    # The seed's layout gives each of two axes half the head, cut into k-blocks, so 2k divides its
    # head width: the smallest such width of at least min_dim_head.
    step = 2 * variant.block_size
    return -(-size.min_dim_head // step) * step


def _registry() -> dict[str, tuple[Variant, Size, int]]:
    out = {}
    for size_name, size in SIZES.items():
        for variant in VARIANTS.values():
            dim_head = _dim_head(variant, size)
            if dim_head is not None:
                out[str(ModelId(variant, size_name))] = (variant, size, dim_head)
    return out


REGISTRY = _registry()


def size_of(name: str) -> str:
    """The size name of a registered model (`digits`, `matched_digits`, ...)."""
    check_name(name)
    return ModelId.parse(name).size


def model_names(size: str | None = None) -> list[str]:
    return [n for n, (_, s, _) in REGISTRY.items() if size is None or s is SIZES[size]]


def check_name(name: str) -> None:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"unknown model '{name}'.{hint} `rope-blocks train --list-models` lists all {len(REGISTRY)} names."
        )


def model_config(
    name: str,
    *,
    image_size: int,
    in_chans: int,
    num_classes: int,
    dropout: float | None = None,
    blank_value: tuple[float, ...] | None = None,
) -> ViTConfig:
    """The ViT of a registered name for images of this shape; ``blank_value`` (the normalised value of a blank
    pixel per channel) is required by the content-only sizes and ignored by the others."""
    check_name(name)
    variant, size, dim_head = REGISTRY[name]
    if size.content_only and blank_value is None:
        raise ValueError(
            f"{name} attends to its content tokens only and needs the normalised value of a blank pixel "
            "(blank_value); `rope-blocks train` takes it from the data set."
        )
    return variant_config(
        variant,
        image_size=image_size,
        in_chans=in_chans,
        num_classes=num_classes,
        patch_size=size.patch_size,
        depth=size.depth,
        heads=size.heads,
        dim_head=dim_head,
        dropout=size.dropout if dropout is None else dropout,
        pool=size.pool,
        attention=size.attention,
        blank_value=tuple(blank_value) if size.content_only else None,
    )


def variant_config(
    variant: Variant,
    *,
    patch_size: int,
    heads: int,
    dim_head: int,
    mlp_ratio: int = 2,
    image_size: int,
    **options,
) -> ViTConfig:
    """The ViT of ``variant`` at any shape (the zoo's basis options, LieRE's unit positions); ``options`` are
    the other ViTConfig fields (depth, dropout, pool, ...). model_config gives the registered shapes."""
    dim = heads * dim_head
    grid = image_size // patch_size
    unit_positions = rb.family_class(variant.family).unit_positions
    return ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        dim=dim,
        heads=heads,
        dim_head=dim_head,
        mlp_dim=mlp_ratio * dim,
        family=variant.family,
        n_axes=variant.n_axes,
        block_size=variant.block_size,
        enc_options={**variant.options(), **ZOO_OPTIONS.get(variant.family, {})},
        pos_scale=1.0 / max(grid - 1, 1) if unit_positions else 1.0,
        **options,
    )


def build_model(name: str, **kwargs) -> ViT:
    return ViT(model_config(name, **kwargs))
