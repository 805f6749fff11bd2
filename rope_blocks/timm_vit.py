"""Give a timm VisionTransformer rope_blocks encodings in place of its absolute position embedding.

>>> import timm, torch, rope_blocks.timm_vit as rbt
>>> model = timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=10)  # pretrained=True works too
>>> model = rbt.convert(model, "commuting", block_size=4, design="mixed")
>>> model(torch.randn(2, 3, 64, 64)).shape
torch.Size([2, 10])

``convert`` swaps each block's ``attn`` for a ``RotaryAttention`` that keeps the layer's weights
(load pretrained weights first, then convert) and rotates the patch tokens' q and k with its own
encoding before timm's fused ``F.scaled_dot_product_attention``. Prefix tokens (class, register,
distillation) go through at position 0, where R(0) = I: they are not rotated. The model stays a
``VisionTransformer``, so timm's scripts, ``timm.optim.create_optimizer_v2`` (which honours
``model.no_weight_decay()``, now listing the encodings' parameters too) and state_dict checkpoints
keep working. A ``basis="stiefel"`` encoding holds geoopt ManifoldParameters
(``rope_blocks.stiefel_parameters(model)``): optimise those with ``geoopt.optim.RiemannianAdam``,
not timm's optimizers, which would move them off the manifold; the ``cayley`` and ``matrix_exp``
bases stay orthogonal under any optimizer.

A converted checkpoint (``model.state_dict()``) has no ``pos_embed`` (unless kept) and holds each
encoding's parameters under ``blocks.<i>.attn.rope.``: it loads only into a model built the same way
(the same ``timm.create_model`` arguments, then ``convert`` with the same family and options). For a
model that needs timm alone, export a relative design to timm's RoPE-Mixed ViT
(``rope_blocks.timm_eva.export_eva``).

Importing this module registers a few converted ViTs with timm (``REGISTERED``), e.g.
``timm.create_model("vit_small_patch16_rope_commuting4_mixed_224")``: timm's ViT-S/16 or ViT-B/16 with a
commuting k x k mixed encoding (k = 4 or 8, learned Cayley basis and frequencies); no pretrained weights.

timm is optional: ``pip install 'rope-blocks[timm]'``. ``import rope_blocks`` never imports it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import RotaryEncoding, _check_positive
from .positions import grid_positions
from .registry import build

try:
    import timm
    from timm.layers import Attention
    from timm.models import register_model
    from timm.models.vision_transformer import VisionTransformer
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "rope_blocks.timm_vit needs timm, an optional dependency: pip install 'rope-blocks[timm]'"
    ) from error

__all__ = ["REGISTERED", "RotaryAttention", "convert", "is_converted", "rotary_attentions", "unit_scale"]


class _GridRecorder:
    """Forward pre-hook on ``model.patch_embed``: records the (rows, cols) patch grid of each input.

    timm's blocks call ``attn(x)`` with tokens only, so the grid has to reach the attention layers
    another way. One recorder is shared by a model's RotaryAttentions; a plain object rather than a
    closure, so that ``copy.deepcopy`` (timm's EMA) and pickling give the copy its own recorder.
    """

    def __init__(self):
        self.grid: tuple[int, int] | None = None

    def __call__(self, patch_embed: nn.Module, args) -> None:
        height, width = args[0].shape[-2:]
        # dynamic_feat_size also counts the padded last row and column of dynamic_img_pad.
        self.grid = tuple(patch_embed.dynamic_feat_size((height, width)))


class RotaryAttention(Attention):
    """timm's ``Attention`` with q and k of the patch tokens rotated by ``rope`` at their grid positions.

    Built from an existing ``Attention``: it takes over its layers (``qkv``, ``q_norm``, ``k_norm``,
    ``proj``, dropouts, ...) and flags (``num_heads``, ``head_dim``, ``scale``, ``fused_attn``),
    so nothing is re-initialised.

    Attributes:
        rope: the RotaryEncoding, for (B, H, N, D) q and k with H = num_heads, D = head_dim.
        num_prefix_tokens: tokens before the patches (class, register, ...), never rotated.
        pos_scale: positions are the integer grid coordinates times pos_scale; None: times
            ``unit_scale`` of each input's grid, so that they span [0, 1] at every image size (LieRE).
        grid: (rows, cols) of the latest input, recorded when ``model.patch_embed`` runs.
    """

    def __init__(
        self,
        attn: Attention,
        rope: RotaryEncoding,
        num_prefix_tokens: int,
        grid_recorder: _GridRecorder,
        pos_scale: float | None = 1.0,
    ):
        nn.Module.__init__(self)  # not Attention.__init__: the layers are attn's own, not new ones
        for name, module in attn.named_children():
            setattr(self, name, module)
        for name, value in vars(attn).items():
            if not name.startswith("_"):  # num_heads, head_dim, scale, fused_attn, gate=None, ...
                setattr(self, name, value)
        self.rope = rope.to(attn.qkv.weight.device)
        self.num_prefix_tokens = num_prefix_tokens
        self.pos_scale = pos_scale
        self._grid_recorder = grid_recorder

    @property
    def grid(self) -> tuple[int, int] | None:
        return self._grid_recorder.grid

    def patch_positions(self, rows: int, cols: int, device=None) -> torch.Tensor:
        """(rows * cols, n_axes) positions of the patches in raster order: (row, col), or the raster index."""
        scale = unit_scale(rows, cols, self.rope.n_axes) if self.pos_scale is None else self.pos_scale
        return grid_positions(rows, cols, self.rope.n_axes, scale, device=device)

    def rotated_qkv(self, x: torch.Tensor, patch_pos: torch.Tensor | None = None):
        """(B, N, C) tokens, prefix tokens first -> q, k, v of shape (B, H, N, D).

        q and k come in the encoding's plane basis (``for_logits``): their dot products are those of
        R(p_i) q_i and R(p_j) k_j, which is all attention needs (theory T5). ``patch_pos``
        (N - num_prefix_tokens, n_axes) overrides the positions of the recorded grid.
        """
        B, N, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if patch_pos is None:
            patch_pos = self._grid_positions(N, x.device)
        q, k = self.rope(q, k, patch_pos, num_prefix_tokens=self.num_prefix_tokens, for_logits=True)
        return q, k, v

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        """(B, N, C) -> (B, N, C), as timm's Attention.forward with q and k rotated."""
        B, N, _ = x.shape
        gate = self.gate(x).sigmoid() if getattr(self, "gate", None) is not None else None
        q, k, v = self.rotated_qkv(x)
        if self.fused_attn:
            x = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=attn_mask,
                dropout_p=self.attn_drop.p if self.training else 0.0,
                is_causal=is_causal,
            )
        else:  # timm's explicit path (TIMM_FUSED_ATTN=0), e.g. to read attention maps off attn_drop
            attn = (q * self.scale) @ k.transpose(-2, -1)
            if is_causal:
                attn_mask = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
            if attn_mask is not None:  # as F.scaled_dot_product_attention: bool keeps, float adds
                attn = (
                    attn.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else attn + attn_mask
                )
            x = self.attn_drop(attn.softmax(dim=-1)) @ v
        x = x.transpose(1, 2).reshape(B, N, -1)
        x = self.norm(x) if getattr(self, "norm", None) is not None else x
        if gate is not None:
            x = x * gate
        return self.proj_drop(self.proj(x))

    def _grid_positions(self, n_tokens: int, device) -> torch.Tensor:
        if self.grid is None:
            raise ValueError(
                "RotaryAttention has no patch grid yet: it is recorded when model.patch_embed runs, so call "
                "the model (or forward_features / forward_intermediates), not a block on its own, or pass patch_pos."
            )
        rows, cols = self.grid
        if n_tokens != self.num_prefix_tokens + rows * cols:
            raise ValueError(
                f"attention got {n_tokens} tokens, but {self.num_prefix_tokens} prefix tokens and a {rows}x{cols} "
                f"patch grid make {self.num_prefix_tokens + rows * cols}; tokens that are dropped or reordered "
                "(patch dropout, token merging) have no grid position, so pass their positions as patch_pos."
            )
        return self.patch_positions(rows, cols, device=device)

    def extra_repr(self) -> str:
        scale = "unit (follows the grid)" if self.pos_scale is None else self.pos_scale
        return f"num_prefix_tokens={self.num_prefix_tokens}, pos_scale={scale}"


def unit_scale(rows: int, cols: int, n_axes: int) -> float:
    """The scale that puts a rows x cols grid's positions in [0, 1]: 1 / (longer side - 1), or 1 / (last raster index).

    One scale for both axes, so that an offset means the same distance along rows and columns (on a
    square grid it is the project ViT's LieRE pos_scale, 1 / (grid side - 1)).
    """
    extent = rows * cols - 1 if n_axes == 1 else max(rows, cols) - 1
    return 1.0 / max(extent, 1)


class _NoWeightDecay:
    """``model.no_weight_decay()`` of a converted model: timm's names and the encodings' parameters.

    An instance attribute (the class stays VisionTransformer) holding names only, so that deepcopy
    and pickling of the model need nothing special.
    """

    def __init__(self, names):
        self.names = frozenset(names)

    def __call__(self) -> set[str]:
        return set(self.names)


def convert(
    model: nn.Module,
    family: str,
    *,
    block_size: int | None = None,
    n_axes: int = 2,
    keep_pos_embed: bool | None = None,
    pos_scale: float | None = None,
    **options,
) -> VisionTransformer:
    """Give every attention layer of a timm VisionTransformer its own ``family`` encoding, in place.

    Args:
        model: a ``timm.models.vision_transformer.VisionTransformer`` (e.g. from ``timm.create_model``),
            with or without ``dynamic_img_size``; pretrained weights are kept.
        family: a rope_blocks family (``rope_blocks.families()``); block_size and options as
            ``rope_blocks.build``.
        n_axes: 2 rotates by (row, col) of each patch, 1 by its raster index.
        keep_pos_embed: keep timm's absolute position embedding as well. Default: drop it (as RoPE-ViT),
            except for ``none``, which rotates nothing and keeps it (refused with False: the model
            would ignore where each patch is).
        pos_scale: positions are grid coordinates times pos_scale. Default: 1 (grid coordinates), and
            for LieRE, designed for positions in [0, 1], ``unit_scale`` of each input's own grid, so that
            ``dynamic_img_size`` keeps them in [0, 1]. A number fixes the scale at every image size.
    Returns:
        ``model`` itself, its ``blocks[i].attn`` now ``RotaryAttention``. Position dropout
        (``pos_drop_rate``) still drops the embedded tokens: timm skips ``pos_drop`` when ``pos_embed``
        is None, so it runs in the ``patch_drop`` slot, on the same tokens at the same point.
    """
    keep_pos_embed = _check_convertible(model, family, n_axes, keep_pos_embed)
    # Build every encoding before touching the model, so a bad family or option leaves it unchanged.
    ropes = [
        build(
            family,
            head_dim=blk.attn.head_dim,
            num_heads=blk.attn.num_heads,
            n_axes=n_axes,
            block_size=block_size,
            **options,
        )
        for blk in model.blocks
    ]
    if pos_scale is not None:
        pos_scale = _check_positive("pos_scale", pos_scale)
    elif not ropes[0].unit_positions:
        pos_scale = 1.0
    recorder = _GridRecorder()
    model.patch_embed.register_forward_pre_hook(recorder)
    for blk, rope in zip(model.blocks, ropes):
        blk.attn = RotaryAttention(blk.attn, rope, model.num_prefix_tokens, recorder, pos_scale)
    if not keep_pos_embed:
        model.pos_embed = None  # timm's _pos_embed then only prepends the prefix tokens, and skips pos_drop
        if model.pos_drop.p > 0:
            model.patch_drop = model.pos_drop  # runs right after _pos_embed (patch dropout is refused above)
    names = set(type(model).no_weight_decay(model))
    for name, module in model.named_modules():
        if isinstance(module, RotaryAttention):
            names |= {f"{name}.rope.{n}" for n in module.rope.no_weight_decay()}
    model.no_weight_decay = _NoWeightDecay(names)
    return model


def _check_convertible(model: nn.Module, family, n_axes, keep_pos_embed) -> bool:
    """Every refusal of ``convert`` that needs no encoding built; returns whether to keep pos_embed."""
    if not isinstance(model, VisionTransformer):
        raise ValueError(
            f"convert expects a timm VisionTransformer (e.g. timm.create_model('vit_small_patch16_224')), got "
            f"{type(model).__name__}; other timm families (Eva, which has its own RoPE, Swin, ...) are not supported."
        )
    if is_converted(model):
        raise ValueError("this model is already converted; convert a fresh VisionTransformer (one encoding per layer).")
    if isinstance(n_axes, bool) or n_axes not in (1, 2):
        raise ValueError(f"a ViT's patches have n_axes 1 (raster index) or 2 (row, col), got n_axes={n_axes!r}.")
    if not isinstance(model.patch_drop, nn.Identity):
        raise ValueError(
            "patch dropout (patch_drop_rate > 0) keeps a random subset of the patches, whose grid positions the "
            "rotary attention would not know; create the model with patch_drop_rate=0."
        )
    for i, blk in enumerate(model.blocks):
        if type(getattr(blk, "attn", None)) is not Attention:
            found = type(getattr(blk, "attn", None)).__name__ if hasattr(blk, "attn") else "no .attn"
            raise ValueError(
                f"blocks[{i}] has {found}; convert supports blocks whose .attn is timm's Attention (fused qkv), "
                "i.e. VisionTransformer's default block_fn and attn_layer."
            )
    if keep_pos_embed is None:
        keep_pos_embed = family == "none"
    elif not isinstance(keep_pos_embed, bool):
        raise ValueError(f"keep_pos_embed must be True, False or None (the family's default), got {keep_pos_embed!r}.")
    if family == "none" and not (keep_pos_embed and model.pos_embed is not None):
        raise ValueError(
            "family 'none' rotates nothing, so without timm's absolute position embedding the model would ignore "
            "where each patch is; keep the embedding (leave keep_pos_embed unset, on a model with pos_embed='learn'), "
            "or pick a rotary family."
        )
    if keep_pos_embed and model.pos_embed is None:
        raise ValueError("keep_pos_embed=True, but the model has no absolute position embedding (pos_embed is None).")
    return keep_pos_embed


def is_converted(model: nn.Module) -> bool:
    """Whether ``model`` holds RotaryAttention layers (i.e. went through ``convert``)."""
    return any(isinstance(m, RotaryAttention) for m in model.modules())


def rotary_attentions(model: nn.Module) -> list[RotaryAttention]:
    """The RotaryAttention layers of a converted model, in block order."""
    return [m for m in model.modules() if isinstance(m, RotaryAttention)]


# Registered with timm: name -> (the timm ViT it converts, k). Commuting mixed designs: learned per-head
# frequencies, each angle a function of both axes, and a learned Cayley basis per head (the family's default).
REGISTERED = {
    f"vit_{size}_patch16_rope_commuting{k}_mixed_224": (f"vit_{size}_patch16_224", k)
    for size in ("small", "base")
    for k in (4, 8)
}


def _register(name: str) -> None:
    base, k = REGISTERED[name]

    def create(pretrained: bool = False, **kwargs) -> VisionTransformer:
        if pretrained:
            raise ValueError(
                f"{name} has no pretrained weights; create it with pretrained=False, or convert a pretrained ViT: "
                f"convert(timm.create_model('{base}', pretrained=True), 'commuting', block_size={k}, design='mixed')."
            )
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(key, None)  # timm's factory hands these to every entry point; they concern weights only
        model = timm.create_model(base, pretrained=False, **kwargs)
        return convert(model, "commuting", block_size=k, design="mixed")

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f"timm's {base} converted to a commuting {k}x{k} mixed encoding per layer (no pretrained weights)."
    # A module-level entry point, as in timm's own model modules (register_model lists it in __all__).
    globals()[name] = register_model(create)


for _name in REGISTERED:
    _register(_name)
