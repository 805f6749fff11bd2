"""The cases of `rope-blocks bench step`: the shapes, models, precisions and recipes of a training step.

A case is built here as the trainer would train it: the project's ViT (training.vit) from a variant name,
or timm's RoPE-Mixed ViT at the same shape, with the trainer's optimizers and loss.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import rope_blocks as rb
from records.model_id import Variant
from rope_blocks.basis import LEARNED_BASES
from training import models
from training.optim import build_optimizers
from training.vit import ViT, ViTConfig

from .common import CPU_FLASH


@dataclass(frozen=True)
class Shape:
    image_size: int
    in_chans: int
    patch_size: int
    heads: int
    dim_head: int
    depth: int
    batch: int
    mlp_ratio: int = 2
    num_classes: int = 10

    @property
    def dim(self) -> int:
        return self.heads * self.dim_head

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


SHAPES = {
    "fashion": Shape(image_size=28, in_chans=1, patch_size=4, heads=4, dim_head=24, depth=4, batch=128),
    "tiny": Shape(image_size=8, in_chans=1, patch_size=2, heads=2, dim_head=8, depth=1, batch=4),
}
# RoPE-Axial, RoPE-Mixed and a learned 4x4 basis (measured folded too): the suite's cheapest and
# dearest encodings, and timm's own design. Any variant name measures (no_rope: the absolute embedding).
MODELS = ("rope_2D_axial_2x2", "mixed_rope_2D_2x2", "commuting_mixed_rope_2D_4x4")
PRECISIONS = ("fp32", "bf16")
FAST = {"dropout_impl": "fast", "attention": "auto"}
RECIPES = {  # name: (ViTConfig options, torch.compile)
    "reference": ({}, False),
    "fast": (FAST, False),
    "fast-sdpa": ({"dropout_impl": "fast", "attn_dropout": 0.0}, False),
    "compiled": (FAST, True),
}
TIMM_RECIPES = ("reference", "compiled")  # timm's model as it is, eager and compiled
TIMM = "timm_rope_mixed"  # timm's vit_small_patch16_rope_mixed_224 (an Eva) at the shape


@dataclass(frozen=True)
class Case:
    """One row: a model (a variant name, "<name>/fold", or TIMM) trained at a precision with a recipe."""

    model: str
    precision: str
    dropout: float
    recipe: str

    @property
    def fold(self) -> bool:
        return self.model.endswith("/fold")


def vit_config(model: str, shape: Shape, dropout: float, recipe: str) -> ViTConfig:
    """The project's ViT for variant name ``model`` (``/fold``: the basis folded into W_q, W_k)."""
    return models.variant_config(
        Variant.parse(model.removesuffix("/fold")),
        image_size=shape.image_size,
        in_chans=shape.in_chans,
        num_classes=shape.num_classes,
        patch_size=shape.patch_size,
        depth=shape.depth,
        heads=shape.heads,
        dim_head=shape.dim_head,
        mlp_ratio=shape.mlp_ratio,
        dropout=dropout,
        pool="mean",
        fold_basis=model.endswith("/fold"),
        **RECIPES[recipe][0],
    )


def timm_model(shape: Shape, dropout: float) -> torch.nn.Module:
    """timm's RoPE-Mixed ViT at ``shape``: the same width, depth, heads, MLP, mean pooling, dropout sites."""
    import timm

    return timm.create_model(
        "vit_small_patch16_rope_mixed_224",
        pretrained=False,
        img_size=shape.image_size,
        patch_size=shape.patch_size,
        in_chans=shape.in_chans,
        embed_dim=shape.dim,
        depth=shape.depth,
        num_heads=shape.heads,
        mlp_ratio=float(shape.mlp_ratio),
        num_classes=shape.num_classes,
        global_pool="avg",
        class_token=False,
        pos_drop_rate=dropout,  # the project's ViT drops the embedded tokens,
        proj_drop_rate=dropout,  # the attention output and both MLP layers,
        attn_drop_rate=dropout,  # and the attention weights
    )


def make_step(case: Case, shape: Shape, device: torch.device):
    """(model, step, loss): step() is one training step as the trainer takes it (compiled in the "compiled"
    recipe); loss() is its forward, eager."""
    if case.model == TIMM:
        model = timm_model(shape, case.dropout)
    else:
        model = ViT(vit_config(case.model, shape, case.dropout, case.recipe))
    model = model.to(device).train()
    net = torch.compile(model) if RECIPES[case.recipe][1] else model
    optimizers = build_optimizers(model, "adamw", 1e-3, 0.01)  # the trainer's defaults
    g = torch.Generator(device=device).manual_seed(0)
    size = (shape.batch, shape.in_chans, shape.image_size, shape.image_size)
    images = torch.randn(size, generator=g, device=device)
    labels = torch.randint(0, shape.num_classes, (shape.batch,), generator=g, device=device)
    bf16 = case.precision == "bf16"

    def loss(forward=model):
        cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with cast:
            logits = forward(images)
        return F.cross_entropy(logits.float(), labels)

    def step():
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss(net).backward()
        for opt in optimizers:
            opt.step()

    return model, step, loss


def step_flops(loss) -> int:
    """FLOPs of one forward + backward, SDPA's fused CPU kernel included."""
    with FlopCounterMode(display=False, custom_mapping=CPU_FLASH) as counter:
        loss().backward()
    return counter.get_total_flops()


def cases(models_, precisions, dropouts, recipes, timm: bool = True, compile_dropouts=(0.0,)) -> list[Case]:
    """Every model x precision x dropout x recipe, and timm's model in the reference and compiled recipes.

    At dropout 0 the fast-sdpa recipe is the reference's computation, so it is left out; the compiled
    recipe (each compile takes tens of seconds on one core) runs only at ``compile_dropouts``.
    """
    out = []
    for precision in precisions:
        for p in dropouts:
            for model in [*models_, *([TIMM] if timm else [])]:
                for r in recipes if model != TIMM else [r for r in TIMM_RECIPES if r in recipes]:
                    if not (p == 0 and r == "fast-sdpa") and (r != "compiled" or p in compile_dropouts):
                        out.append(Case(model, precision, p, r))
    return out


def foldable(model: str) -> bool:
    """Variants whose learned plane basis folds into W_q and W_k (ViTConfig.fold_basis)."""
    variant = Variant.parse(model)
    if variant.family == "none" or not rb.family_class(variant.family).has_plane_basis:
        return False
    options = {**rb.family_options(variant.family), **models.ZOO_OPTIONS.get(variant.family, {})}
    return options.get("basis") in LEARNED_BASES
