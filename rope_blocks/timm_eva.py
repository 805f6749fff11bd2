"""Export a relative model to timm's own RoPE-Mixed ViT: ``timm.models.eva.Eva`` with ``rope_type='mixed'``.

Every relative design is RoPE-Mixed with its basis folded into W_q and W_k (theory T5, ``rope_form``), so a
trained axial, mixed, givens or commuting model becomes the state dict and ``timm.create_model`` arguments of
timm's RoPE-Mixed ViT (the model behind ``vit_small_patch16_rope_mixed_224``), which needs timm alone:

    export = export_eva(model)                 # a timm ViT converted by rope_blocks.timm_vit
    export.save("exported.pth")                # the state dict, and exported.json: model_name, kwargs
    model = timm.create_model(meta["model_name"], pretrained=False, **meta["kwargs"])   # timm alone
    model.load_state_dict(torch.load("exported.pth", weights_only=True))

(``training.export_timm.vit_to_eva`` does the same for this project's ViT.) How timm's model holds it:

* Positions. timm's RoPE-Mixed grid (``rope_grid_indexing='xy'``) gives patch (row, col) of the raster
  order the coordinates t_x = col, t_y = row, integers from 0 at every image size, and turns pair i of
  head h in block l by t_x freqs[0, l, h, i] + t_y freqs[1, l, h, i]: our (row, col) times pos_scale
  with the axes swapped and the scale folded into the table. timm rotates only the tokens after its
  ``num_prefix_tokens``, as rope_blocks does. Our grid also starts at 0; a relative design would not
  care about an offset anyway, only about the scale. When the angles depend on the grid's size (the
  raster index of n_axes=1, whose rows are ``cols`` apart; LieRE's unit positions), no fixed table
  follows other sizes: the export pins the training grid (``dynamic_img_size=False``), where it is exact
  and timm refuses any other input size rather than compute other angles (``EvaExport.fixed_grid``).
* Pairs. timm's RoPE-Mixed rotates interleaved pairs (2i, 2i+1) counterclockwise
  (``apply_rot_embed_cat`` with ``half=False``), as ``rope_form`` does: the pair permutation is the
  identity, and the basis with its ordering of planes folds into the q and k rows and biases.
  Unrotated directions (odd-k blocks, dims past the last block) are pairs of frequency 0.
* Norms. Eva's LayerNorm has timm's eps (1e-6); this project's ViT uses 1e-5. LN(c x; c^2 eps) = LN(x; eps),
  so the export carries the residual stream times c = sqrt(1e-6 / eps): the patch embedding, prefix tokens
  and absolute embedding, and the layer scales gamma (created as c when the source has none), are
  multiplied by c (``EvaExport.residual_scale``), and every norm sees what it saw before.

Refused, with the reason: non-relative designs (``rope_form``), a head width that 4 does not divide (timm's
table holds head_dim // 4 frequencies per axis, twice), embed_dim != num_heads x head_dim, norms other
than LayerNorm and norms on q and k, in the attention output or in the MLP, activations other than GELU,
an MLP width that embed_dim x mlp_ratio does not give back, attention pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from records import provenance

from .export import RoPEForm, fold_qkv, rope_form

try:
    import timm
    from timm.layers import LayerNorm, Mlp
    from timm.models.vision_transformer import Block, VisionTransformer
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "rope_blocks.timm_eva needs timm, an optional dependency: pip install 'rope-blocks[timm]'"
    ) from error

from .timm_vit import rotary_attentions, unit_scale

# Eva's norm: its default norm_layer, timm's LayerNorm, with that class's default eps.
EVA_NORM_EPS = LayerNorm(1).eps

# What every export sets, whatever the source: timm's RoPE-Mixed attention and table, nothing Eva adds
# (arguments every supported timm takes: qk_norm, off by default, is newer than timm 1.0.26).
FIXED_KWARGS = {
    "attn_type": "rope",  # AttentionRope: one fused qkv Linear with a bias for q, k and v alike
    "qkv_fused": True,
    "swiglu_mlp": False,
    "scale_mlp": False,
    "scale_attn_inner": False,
    "use_rot_pos_emb": True,
    "rope_type": "mixed",
    "rope_grid_indexing": "xy",
    "rope_rotate_half": False,
    "patch_drop_rate": 0.0,
}
# timm's stock names for the sizes they were made for; any other size uses the small one's entry point
# (every architectural argument is in the kwargs, so the name only selects timm's RoPE-Mixed Eva).
STOCK_NAMES = {
    (384, 12, 6): "vit_small_patch16_rope_mixed_224",
    (768, 12, 12): "vit_base_patch16_rope_mixed_224",
    (1024, 24, 16): "vit_large_patch16_rope_mixed_224",
}


@dataclass(frozen=True)
class GridPositions:
    """How the source places its patches, on its training grid.

    n_axes: 2 for (row, col), 1 for the raster index. scale: positions are grid coordinates times scale.
    grid: the training grid (rows, cols). follows_grid: the scale changes with the grid (unit positions).
    """

    n_axes: int
    scale: float
    grid: tuple[int, int]
    follows_grid: bool = False


@dataclass(frozen=True)
class EvaExport:
    """timm's RoPE-Mixed ViT equivalent to a trained model: ``timm.create_model(model_name, **kwargs)``
    loads ``state_dict`` strictly. ``fixed_grid`` says why the export runs at the training size only
    (empty when it takes any size); ``residual_scale`` is the c of the norms' eps (module docstring)."""

    model_name: str
    kwargs: dict
    state_dict: dict = field(repr=False)
    residual_scale: float = 1.0
    fixed_grid: str = ""

    def create(self) -> nn.Module:
        """timm's model with the exported weights, in eval mode (built and loaded by timm alone)."""
        model = timm.create_model(self.model_name, pretrained=False, **self.kwargs)
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()

    def description(self) -> dict:
        """What a timm user needs besides the state dict, for the JSON beside it."""
        return {
            "timm_version": timm.__version__,
            "model_name": self.model_name,
            "kwargs": self.kwargs,
            "load": "model = timm.create_model(model_name, pretrained=False, **kwargs); "
            "model.load_state_dict(torch.load(state_dict_file, weights_only=True))",
            "residual_scale": self.residual_scale,
            "fixed_grid": self.fixed_grid or None,
        }

    def save(self, path: Path, *, overwrite: bool = False, extra: dict | None = None) -> Path:
        """Write the state dict to ``path`` and its JSON (``extra``, then ``description``) beside it, suffix
        .json; returns the JSON's path. Nothing is written when either exists and ``overwrite`` is False."""
        path = Path(path)
        meta = path.with_suffix(".json")
        if meta == path:
            raise ValueError(f"{path} would also be the name of the JSON beside it; name the state dict *.pth.")
        existing = [str(p) for p in (path, meta) if p.exists()]
        if existing and not overwrite:
            raise ValueError(
                f"{' and '.join(existing)} already exist(s); pass overwrite=True (--overwrite) to replace."
            )
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()}
        provenance.atomic_write(path, lambda f: torch.save(state, f))
        provenance.write_json({**(extra or {}), "state_dict_file": path.name, **self.description()}, meta)
        return meta


def mixed_table(forms: list[RoPEForm], positions: GridPositions) -> torch.Tensor:
    """(2, depth, H, D // 2) float32 timm's ``RotaryEmbeddingMixed.freqs`` for one RoPE form per layer.

    [0] turns with t_x = col, [1] with t_y = row (``rope_grid_indexing='xy'``); n_axes=1 turns with
    row * cols + col on the training grid's cols.
    """
    f = torch.stack([form.freqs for form in forms]) * positions.scale  # (depth, H, D // 2, n_axes)
    if positions.n_axes == 2:
        fx, fy = f[..., 1], f[..., 0]
    else:
        fx, fy = f[..., 0], f[..., 0] * positions.grid[1]
    return torch.stack((fx, fy)).float()


def build_export(
    arch: dict, state: dict, forms: list[RoPEForm], positions: GridPositions, *, eps: float, dynamic: bool
) -> EvaExport:
    """The export of a source described in Eva's terms.

    Args:
        arch: Eva kwargs read off the source (sizes, prefix tokens, pooling and norm placement, dropout
            rates), with ``mlp_hidden`` (the MLP width) in place of mlp_ratio.
        state: the source's weights under Eva's names, unfolded, without ``rope.freqs``.
        forms: one RoPE form per block. eps: the source's LayerNorm eps. dynamic: it takes any image size.
    """
    arch = dict(arch)
    heads, dim, _ = forms[0].basis.shape
    _check_shapes(arch, heads, dim)
    mlp_hidden = arch.pop("mlp_hidden")
    fixed_grid = ""
    if dynamic and positions.n_axes == 1:
        fixed_grid = "its positions are raster indices, whose rows are as far apart as the grid is wide"
    elif dynamic and positions.follows_grid:
        fixed_grid = "its positions are scaled to [0, 1] on each grid (LieRE's unit positions)"
    state = {name: value.detach().clone() for name, value in state.items()}  # not the source's live parameters
    for i, form in enumerate(forms):
        for name in ("weight", "bias"):
            if f"blocks.{i}.attn.qkv.{name}" in state:
                state[f"blocks.{i}.attn.qkv.{name}"] = fold_qkv(state[f"blocks.{i}.attn.qkv.{name}"], form.basis)
    scale = math.sqrt(EVA_NORM_EPS / eps)
    _scale_residual_stream(state, len(forms), arch["embed_dim"], scale)
    state["rope.freqs"] = mixed_table(forms, positions)
    kwargs = {
        **FIXED_KWARGS,
        **arch,
        "mlp_ratio": mlp_hidden / arch["embed_dim"],
        # Always layer scales (timm's create_model drops None kwargs, so the stock 1e-5 would come back anyway):
        # the source's, or c without them; the value here is only the init the state dict replaces.
        "init_values": scale,
        "dynamic_img_size": dynamic and not fixed_grid,
    }
    name = STOCK_NAMES.get((arch["embed_dim"], arch["depth"], arch["num_heads"]), STOCK_NAMES[384, 12, 6])
    return EvaExport(name, kwargs, state, scale, fixed_grid and f"exported for the training grid only: {fixed_grid}")


def _check_shapes(arch: dict, heads: int, dim: int) -> None:
    if dim % 4:
        raise ValueError(
            f"timm's RoPE-Mixed table holds head_dim // 4 frequencies per axis, twice, so it needs a head width "
            f"divisible by 4; this model's is {dim}. Train with a head width that 4 divides (e.g. {dim + 4 - dim % 4})."
        )
    if heads * dim != arch["embed_dim"]:
        raise ValueError(
            f"timm's Eva takes its head width from embed_dim // num_heads, but this model has embed_dim "
            f"{arch['embed_dim']} and {heads} heads of width {dim}; train with dim = heads x head width "
            f"({heads * dim})."
        )
    hidden, width = arch["mlp_hidden"], arch["embed_dim"]
    if int(width * (hidden / width)) != hidden:
        raise ValueError(
            f"timm's Eva sizes its MLP as int(embed_dim x mlp_ratio), which does not give back this model's MLP "
            f"width {hidden} for embed_dim {width}; train with an MLP width that is a simple multiple of the width."
        )


def _scale_residual_stream(state: dict, depth: int, width: int, c: float) -> None:
    """The residual stream times c (module docstring, Norms): what enters it, and each block's layer scales
    (created as c where the source has none: Eva's blocks always get them, as the stock RoPE-Mixed ViTs)."""
    for name in ("patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "reg_token", "pos_embed"):
        if name in state:
            state[name] = state[name] * c
    for name in ("norm_pre.weight", "norm_pre.bias"):  # its input is c times larger, and so must its output be
        if name in state:
            state[name] = state[name] * c
    for i in range(depth):
        for gamma in (f"blocks.{i}.gamma_1", f"blocks.{i}.gamma_2"):
            state[gamma] = state[gamma] * c if gamma in state else torch.full((width,), c)


# ---------------------------------------------------------------- a timm ViT converted by rope_blocks.timm_vit


def export_eva(model: nn.Module) -> EvaExport:
    """timm's RoPE-Mixed ViT equivalent to a timm VisionTransformer converted by ``rope_blocks.timm_vit``.

    Raises ValueError, naming the reason and the fix, for what timm's RoPE-Mixed Eva cannot hold (module
    docstring). Dropout and drop-path rates carry over; the converted model is left as it was.
    """
    if not isinstance(model, VisionTransformer) or not rotary_attentions(model):
        raise ValueError(
            f"export_eva takes a timm VisionTransformer converted by rope_blocks.timm_vit.convert, got a "
            f"{type(model).__name__} without rotary attention; convert it first (for this project's ViT: "
            "training.export_timm.vit_to_eva)."
        )
    _check_vit(model)
    attentions = [blk.attn for blk in model.blocks]
    forms = {id(a.rope): rope_form(a.rope) for a in attentions}  # encodings shared by layers share their form
    first, (rows, cols) = attentions[0], model.patch_embed.grid_size
    scale = unit_scale(rows, cols, first.rope.n_axes) if first.pos_scale is None else first.pos_scale
    positions = GridPositions(first.rope.n_axes, scale, (rows, cols), follows_grid=first.pos_scale is None)
    return build_export(
        _vit_arch(model),
        _vit_state(model),
        [forms[id(a.rope)] for a in attentions],
        positions,
        eps=model.blocks[0].norm1.eps,
        dynamic=model.dynamic_img_size,
    )


def _vit_arch(model: VisionTransformer) -> dict:
    blk = model.blocks[0]
    last = model.blocks[-1].drop_path1
    return {
        "img_size": list(model.patch_embed.img_size),
        "patch_size": list(model.patch_embed.patch_size),
        "in_chans": model.patch_embed.proj.in_channels,
        "num_classes": model.num_classes,
        "global_pool": model.global_pool,
        "embed_dim": model.embed_dim,
        "depth": len(model.blocks),
        "num_heads": blk.attn.num_heads,
        "qkv_bias": blk.attn.qkv.bias is not None,
        "mlp_hidden": blk.mlp.fc1.out_features,
        "class_token": model.cls_token is not None,
        "num_reg_tokens": 0 if model.reg_token is None else model.reg_token.shape[1],
        "no_embed_class": model.no_embed_class,
        "use_abs_pos_emb": model.pos_embed is not None,
        "use_pre_transformer_norm": not isinstance(model.norm_pre, nn.Identity),
        "use_post_transformer_norm": not isinstance(model.norm, nn.Identity),
        "use_fc_norm": not isinstance(model.fc_norm, nn.Identity),
        "dynamic_img_pad": model.patch_embed.dynamic_img_pad,
        "drop_rate": model.head_drop.p,
        "pos_drop_rate": model.pos_drop.p,
        "proj_drop_rate": blk.attn.proj_drop.p,
        "attn_drop_rate": blk.attn.attn_drop.p,
        "drop_path_rate": getattr(last, "drop_prob", 0.0),  # timm's rates rise linearly to this one, as Eva's
    }


def _vit_state(model: VisionTransformer) -> dict:
    """The converted ViT's weights under Eva's names: its own, without the encodings, layer scales renamed."""
    state = {}
    for name, value in model.state_dict().items():
        if ".attn.rope." in name:
            continue
        state[name.replace(".ls1.gamma", ".gamma_1").replace(".ls2.gamma", ".gamma_2")] = value
    return state


def _check_vit(model: VisionTransformer) -> None:
    """Every refusal of export_eva: what timm's RoPE-Mixed Eva has no place for, or that does not fold."""
    problems = []
    for i, blk in enumerate(model.blocks):
        problems += [f"blocks[{i}]: {p}" for p in _block_problems(blk)]
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    if len({m.eps for m in norms}) > 1 or any(m.weight is None or m.bias is None for m in norms):
        problems.append("its LayerNorms differ in eps or lack weight or bias; Eva's share one affine LayerNorm")
    others = {type(m).__name__ for m in model.modules() if "norm" in type(m).__name__.lower()} - {"LayerNorm"}
    if others:
        problems.append(f"it has {', '.join(sorted(others))}; the export maps LayerNorm only (create_model kwargs "
                        "hold no norm_layer), so build the ViT with timm's default norm_layer")  # fmt: skip
    if model.attn_pool is not None or getattr(model, "pool_include_prefix", False):
        problems.append(f"global_pool={model.global_pool!r} (or pool_include_prefix) has no RoPE-Mixed Eva "
                        "counterpart; use 'token', 'avg', 'avgmax' or 'max'")  # fmt: skip
    if not isinstance(model.patch_embed.norm, nn.Identity):
        problems.append("its patch embedding has a norm (embed_norm_layer), which Eva's has not")
    if not isinstance(model.head, (nn.Linear, nn.Identity)):
        problems.append(f"its head is a {type(model.head).__name__}; Eva's is a Linear (or none)")
    if problems:
        raise ValueError(
            "timm's RoPE-Mixed ViT (Eva) cannot hold this model: " + "; ".join(problems) + ". Train (or convert) "
            "a ViT without these features to export it, or keep it as a converted VisionTransformer."
        )


def _block_problems(blk: nn.Module) -> list[str]:
    if type(blk) is not Block:
        return [f"a {type(blk).__name__}; Eva has timm's pre-norm Block only (the default block_fn)"]
    attn, mlp, problems = blk.attn, blk.mlp, []
    if not (isinstance(attn.q_norm, nn.Identity) and isinstance(attn.k_norm, nn.Identity)):
        problems.append("q and k are normalised per head (qk_norm): a norm over the head does not commute with the "
                        "basis, so the basis cannot fold into W_q and W_k; use qk_norm=False")  # fmt: skip
    if not isinstance(getattr(attn, "norm", nn.Identity()), nn.Identity) or getattr(attn, "gate", None) is not None:
        problems.append("its attention has an output norm or gate (scale_attn_norm, gated attention); the export does "
                        "not map them, use the default attention")  # fmt: skip
    if attn.proj.bias is None:
        problems.append("its attention projection has no bias (proj_bias=False); Eva's always has one")
    if type(mlp) is not Mlp or type(mlp.act) is not nn.GELU or mlp.act.approximate != "none":
        problems.append(f"its MLP is a {type(mlp).__name__} with {type(getattr(mlp, 'act', None)).__name__}; Eva's "
                        "plain MLP is timm's Mlp with exact GELU (the default mlp_layer and act_layer)")  # fmt: skip
    elif not isinstance(mlp.norm, nn.Identity) or mlp.fc1.bias is None or mlp.fc2.bias is None:
        problems.append("its MLP has a norm (scale_mlp_norm) or no biases; the export maps timm's default Mlp only")
    if isinstance(blk.ls1, nn.Identity) != isinstance(blk.ls2, nn.Identity):
        problems.append("it scales one branch only (LayerScale); Eva scales both or neither")
    return problems
