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
    from timm.layers import Attention
    from timm.models.vision_transformer import VisionTransformer
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "rope_blocks.timm_vit needs timm, an optional dependency: pip install 'rope-blocks[timm]'"
    ) from error

__all__ = ["RotaryAttention", "convert", "is_converted", "rotary_attentions"]


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
        pos_scale: positions are the integer grid coordinates times pos_scale.
        grid: (rows, cols) of the latest input, recorded when ``model.patch_embed`` runs.
    """

    def __init__(
        self,
        attn: Attention,
        rope: RotaryEncoding,
        num_prefix_tokens: int,
        grid_recorder: _GridRecorder,
        pos_scale: float = 1.0,
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
        return grid_positions(rows, cols, self.rope.n_axes, self.pos_scale, device=device)

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
        return f"num_prefix_tokens={self.num_prefix_tokens}, pos_scale={self.pos_scale}"


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
    keep_pos_embed: bool = False,
    pos_scale: float = 1.0,
    **options,
) -> VisionTransformer:
    """Give every attention layer of a timm VisionTransformer its own ``family`` encoding, in place.

    Args:
        model: a ``timm.models.vision_transformer.VisionTransformer`` (e.g. from ``timm.create_model``),
            with or without ``dynamic_img_size``; pretrained weights are kept.
        family: a rope_blocks family (``rope_blocks.families()``); block_size and options as
            ``rope_blocks.build``.
        n_axes: 2 rotates by (row, col) of each patch, 1 by its raster index.
        keep_pos_embed: keep timm's absolute position embedding as well (default: drop it, as RoPE-ViT).
        pos_scale: positions are grid coordinates times pos_scale (LieRE was designed for positions in
            [0, 1]: 1 / (grid side - 1)).
    Returns:
        ``model`` itself, its ``blocks[i].attn`` now ``RotaryAttention``.
    """
    pos_scale = _check_convertible(model, n_axes, pos_scale)
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
    recorder = _GridRecorder()
    model.patch_embed.register_forward_pre_hook(recorder)
    for blk, rope in zip(model.blocks, ropes):
        blk.attn = RotaryAttention(blk.attn, rope, model.num_prefix_tokens, recorder, pos_scale)
    if not keep_pos_embed:
        model.pos_embed = None  # timm's _pos_embed then only prepends the prefix tokens
    names = set(type(model).no_weight_decay(model))
    for name, module in model.named_modules():
        if isinstance(module, RotaryAttention):
            names |= {f"{name}.rope.{n}" for n in module.rope.no_weight_decay()}
    model.no_weight_decay = _NoWeightDecay(names)
    return model


def _check_convertible(model: nn.Module, n_axes, pos_scale) -> float:
    """Every refusal of ``convert`` that needs no encoding built; returns the checked pos_scale."""
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
    return _check_positive("pos_scale", pos_scale)


def is_converted(model: nn.Module) -> bool:
    """Whether ``model`` holds RotaryAttention layers (i.e. went through ``convert``)."""
    return any(isinstance(m, RotaryAttention) for m in model.modules())


def rotary_attentions(model: nn.Module) -> list[RotaryAttention]:
    """The RotaryAttention layers of a converted model, in block order."""
    return [m for m in model.modules() if isinstance(m, RotaryAttention)]
