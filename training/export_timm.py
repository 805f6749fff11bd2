"""This project's ViT as timm's own RoPE-Mixed ViT (``rope-blocks export --to timm``): see rope_blocks.timm_eva.

The ViT maps onto timm's Eva one to one: pre-norm blocks of affine LayerNorms, a fused qkv without bias
(``qkv_bias=False``), a projection with bias, an MLP Linear-GELU-Linear (``mlp_ratio = mlp_dim / dim``), a
patch embedding Conv2d with bias, no absolute embedding; ``pool="cls"`` is Eva's class token read after the
final norm (``global_pool='token'``), ``pool="mean"`` the mean of the normed patch tokens (``'avg'`` with the
norm before the pooling, not Eva's default fc_norm after it). Its dropout rates are Eva's position, attention
and projection dropout, at the same places (with nn.Dropout's masks). It takes any image size, and so does the
export (``dynamic_img_size``), with the positions of ``ViT.forward``'s default ``positions="grid"``, except
where the angles depend on the grid's size (rope_blocks.timm_eva); ``positions="rescaled"`` spreads other
grids over the training grid's extent, which no fixed table does.
"""

from __future__ import annotations

import re

from rope_blocks.export import rope_form
from rope_blocks.timm_eva import EvaExport, GridPositions, build_export

from .vit import ViT

# This ViT's parameter names -> Eva's (the rest are the same: cls_token, norm1, norm2, attn.qkv, attn.proj, norm, head).
RENAMES = (
    (r"^patch_embed\.", "patch_embed.proj."),
    (r"\.mlp\.0\.", ".mlp.fc1."),
    (r"\.mlp\.3\.", ".mlp.fc2."),
)


def vit_to_eva(model: ViT) -> EvaExport:
    """timm's RoPE-Mixed ViT equivalent to ``model`` (``EvaExport.create()`` builds it with timm alone).

    Raises ValueError for a model without a relative rotary encoding, or with shapes timm's model cannot hold.
    """
    cfg = model.cfg
    if not len(model.encodings):
        raise ValueError(
            f"the model's family is {cfg.family!r}: it has no rotary encoding to export to timm's RoPE-Mixed ViT "
            "(it uses an absolute position embedding)."
        )
    if cfg.blank_value is not None:
        raise ValueError(
            "the model attends to its content tokens only (ViTConfig.blank_value), which timm's Eva cannot do; "
            "export it with --to rope-blocks instead."
        )
    forms = [rope_form(enc) for enc in model.encodings]  # one per layer, or one shared by all
    state = {}
    for name, value in model.state_dict().items():
        if not name.startswith("encodings."):
            for pattern, new in RENAMES:
                name = re.sub(pattern, new, name)
            state[name] = value
    cls = cfg.pool == "cls"
    arch = {
        "img_size": cfg.image_size,
        "patch_size": cfg.patch_size,
        "in_chans": cfg.in_chans,
        "num_classes": cfg.num_classes,
        "global_pool": "token" if cls else "avg",
        "embed_dim": cfg.dim,
        "depth": cfg.depth,
        "num_heads": cfg.heads,
        "qkv_bias": False,
        "mlp_hidden": cfg.mlp_dim,
        "class_token": cls,
        "num_reg_tokens": 0,
        "use_abs_pos_emb": False,
        "use_pre_transformer_norm": False,
        "use_post_transformer_norm": True,
        "use_fc_norm": False,
        "pos_drop_rate": model.drop.p,  # the modules' own rates: attention dropout may differ from the rest
        "attn_drop_rate": model.blocks[0].attn.dropout,
        "proj_drop_rate": model.blocks[0].attn.proj_drop.p,
        "drop_rate": 0.0,
        "drop_path_rate": 0.0,
    }
    return build_export(
        arch,
        state,
        [forms[0 if cfg.share_encoding else i] for i in range(cfg.depth)],
        GridPositions(cfg.n_axes, cfg.pos_scale, (cfg.grid, cfg.grid)),
        eps=model.norm.eps,
        dynamic=True,
    )
