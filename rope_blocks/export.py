"""Export: a trained relative design as plain 2x2 RoPE with projections that absorbed its basis.

Every relative planar design rotates R(p) = B P(p) B^T with B orthogonal and P(p) the 2x2 rotations
of RoPE's interleaved pairs (2i, 2i+1) by angles freqs_i . p (theory T3, T4). In dot-product
attention B^T folds into W_q and W_k (theory T5): for tokens u, v at positions x, y the logit
(R(x) W_q u)^T (R(y) W_k v) = (B^T W_q u)^T P(y - x) (B^T W_k v), so any standard RoPE kernel with
one frequency per axis per plane (RoPE-Mixed) runs the model.

    form = rope_form(enc)                       # RoPEForm(basis (H, D, D), freqs (H, D // 2, n_axes))
    qkv.weight = fold_qkv(qkv.weight, form.basis)   # fused [q; k; v] rows, v untouched
    model = export_timm(model)                  # a timm ViT converted by rope_blocks.timm_vit

training.export does the same for this project's ViT (rope_blocks never imports training). The result
still runs rope-blocks' attention; rope_blocks.timm_eva exports to timm's own RoPE-Mixed ViT instead.
Non-relative designs (weighted k >= 3, LieRE k >= 3 with 2 or more axes) have no such form.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from .base import RotaryEncoding, embed_blocks
from .liere import LieRE
from .planar import MixedRoPE, PlanarRotation, plane_blocks


@dataclass(frozen=True)
class RoPEForm:
    """R(p) = basis @ P(p) @ basis^T, P(p) RoPE's interleaved 2x2 rotations by freqs . p.

    basis: (H, D, D) float64 orthogonal (to the precision the encoding stores its basis in: float32
        for a Stiefel basis): blockdiag(Q_b, I) with its columns ordered so that the rotated planes
        come first as the pairs (2i, 2i+1); the unrotated directions (the odd one of each odd-k
        block, the dims past the last block) follow.
    freqs: (H, D // 2, n_axes) float64: plane i turns by sum_a p_a freqs[h, i, a]; zero rows for
        the pairs of unrotated directions.
    """

    basis: torch.Tensor
    freqs: torch.Tensor

    def rotation(self, pos: torch.Tensor) -> torch.Tensor:
        """(N, n_axes) positions -> (H, N, D, D) float64 rotations basis P(pos) basis^T."""
        phi = torch.einsum("na,hia->hni", pos.to(torch.float64), self.freqs)
        planes = plane_blocks(1.0, torch.cos(phi), torch.sin(phi), self.basis.shape[-1])
        basis = self.basis.unsqueeze(1)
        return basis @ planes @ basis.transpose(-1, -2)


def rope_form(enc: RotaryEncoding) -> RoPEForm:
    """The 2x2 RoPE form (basis, frequency table) of a relative encoding, in float64.

    Planar families (axial, mixed, givens, commuting: any basis, k, per_head) and LieRE with 2x2
    blocks (so(2) is abelian: basis I). Raises ValueError for the others, saying why.
    """
    _check_exportable(enc)
    h, d, nb, k = enc.num_heads, enc.head_dim, enc.num_blocks, enc.block_size
    if isinstance(enc, LieRE):  # 2x2 blocks: generator [[0, -w], [w, 0]] turns its pair by w
        gens = enc.generators(torch.float64).detach().cpu()  # (H, n_axes, D, D)
        omega = gens[..., 1::2, ::2].diagonal(dim1=-2, dim2=-1)[..., :nb].transpose(1, 2)  # (H, nb, n_axes)
        basis = torch.eye(d, dtype=torch.float64).expand(h, d, d)
        return RoPEForm(basis.clone(), _pad_pairs(omega, h, d))
    p = enc.planes_per_block
    with torch.no_grad():
        q = enc.basis.matrix(torch.float64)  # (H or 1, nb or 1, k, k), None for I
    q = torch.eye(k, dtype=torch.float64).expand(1, 1, k, k) if q is None else q.cpu()
    blockdiag = embed_blocks(q.expand(-1, nb, -1, -1), d, fill=1.0)  # (H or 1, D, D)
    rotated = [b * k + j for b in range(nb) for j in range(2 * p)]
    still = [b * k + j for b in range(nb) for j in range(2 * p, k)] + list(range(nb * k, d))
    basis = blockdiag[..., rotated + still].expand(h, d, d).clone()
    omega = enc.freqs().detach().cpu().to(torch.float64).flatten(1, 2)  # (H or 1, nb * p, n_axes)
    return RoPEForm(basis, _pad_pairs(omega, h, d))


def _pad_pairs(omega: torch.Tensor, heads: int, dim: int) -> torch.Tensor:
    """(H or 1, planes, n_axes) -> (H, D // 2, n_axes), zero rows for the pairs that do not turn."""
    table = omega.new_zeros(heads, dim // 2, omega.shape[-1])
    table[:, : omega.shape[1]] = omega
    return table


def _check_exportable(enc) -> None:
    if not isinstance(enc, RotaryEncoding):
        raise ValueError(f"rope_form takes a rope_blocks encoding, got {type(enc).__name__}.")
    if isinstance(enc, PlanarRotation) or (isinstance(enc, LieRE) and enc.block_size == 2):
        return
    k, n = enc.block_size, enc.n_axes
    if enc.family == "none":
        raise ValueError(
            "the 'none' family rotates nothing, so there is nothing to export (the model keeps its "
            "absolute position embedding)."
        )
    if enc.family == "weighted" and k == 2:
        raise ValueError(
            "the 'weighted' family with block_size=2 is relative (the mean of one Givens rotation is "
            "that rotation), but it is axial 2x2 RoPE under another name and export reads the planar "
            "families only; build the model as family 'axial' (same frequencies) instead."
        )
    if enc.relative:  # LieRE with one axis and k >= 3
        raise ValueError(
            f"the '{enc.family}' family with n_axes={n}, block_size={k} is relative (one generator "
            "per block), but export does not compute the plane basis of a learned generator; it "
            "exports the planar families and LieRE with block_size=2."
        )
    why = {
        "weighted": "its blocks are not even orthogonal (theory T7)",
        "liere": "its generators do not commute (theory T9)",
    }.get(enc.family, "theory says so")
    raise ValueError(
        f"the '{enc.family}' family with block_size={k} and n_axes={n} is not relative: {why}, so no "
        "2x2 RoPE model computes the same attention and there is nothing exact to export."
    )


def fold_rows(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(H * D, ...) query or key rows of a projection (head-major) -> basis_h^T W_h, in w's dtype.

    The product is taken in float64, so the folded weight is w's rounding of the exact one.
    """
    heads, dim, _ = basis.shape
    if w.shape[0] != heads * dim:
        raise ValueError(
            f"fold_rows takes the {heads * dim} = H x D query or key rows of a projection, got shape {tuple(w.shape)}."
        )
    rows = w.detach().to(torch.float64).reshape(heads, dim, -1)
    return (basis.to(rows.device).transpose(-1, -2) @ rows).reshape(w.shape).to(w.dtype)


def fold_qkv(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(3 * H * D, ...) a fused [q; k; v] weight or bias -> q and k rows folded by basis^T, v as it is."""
    if w.shape[0] % 3:
        raise ValueError(f"a fused qkv weight has 3 x H x D rows, got shape {tuple(w.shape)}.")
    wq, wk, wv = w.detach().chunk(3)
    return torch.cat((fold_rows(wq, basis), fold_rows(wk, basis), wv))


def table_rope(form: RoPEForm, n_axes: int) -> MixedRoPE:
    """The RoPE-Mixed encoding (per head) whose learned frequency table is ``form.freqs``."""
    heads, dim, _ = form.basis.shape
    enc = MixedRoPE(dim, heads, n_axes, per_head=True)
    with torch.no_grad():
        enc.freqs.freqs.copy_(form.freqs.unsqueeze(2))  # (H, D // 2 blocks, 1 plane, n_axes)
    return enc


def export_timm(model: nn.Module) -> nn.Module:
    """A copy of a timm VisionTransformer converted by rope_blocks.timm_vit, as plain 2x2 RoPE.

    Each rotary attention's qkv rows (weight and bias) absorb its basis and its encoding becomes
    the RoPE-Mixed table (``table_rope``); everything else is copied. The logits are the same.
    """
    from . import timm_vit  # timm is optional: import it only when a timm model is exported

    attentions = timm_vit.rotary_attentions(model)
    if not attentions:
        raise ValueError(
            "the model has no rotary attention to export; convert a timm VisionTransformer with "
            "rope_blocks.timm_vit first."
        )
    for attn in attentions:
        for name in ("q_norm", "k_norm"):
            if not isinstance(getattr(attn, name), nn.Identity):
                raise ValueError(
                    f"the attention normalises q or k per head ({name} is "
                    f"{type(getattr(attn, name)).__name__}): a norm over the head does not commute "
                    "with the basis, so it cannot fold into the projections. Export models built "
                    "with qk_norm=False."
                )
    # Attentions that share one encoding share its form (and keep sharing it after the export).
    forms = {id(attn.rope): rope_form(attn.rope) for attn in attentions}
    exported = copy.deepcopy(model)
    tables: dict[int, MixedRoPE] = {}
    for attn, new in zip(attentions, timm_vit.rotary_attentions(exported)):
        form = forms[id(attn.rope)]
        with torch.no_grad():
            new.qkv.weight.copy_(fold_qkv(attn.qkv.weight, form.basis))
            if new.qkv.bias is not None:
                new.qkv.bias.copy_(fold_qkv(attn.qkv.bias, form.basis))
        if id(attn.rope) not in tables:
            tables[id(attn.rope)] = table_rope(form, attn.rope.n_axes).to(attn.qkv.weight.device)
        new.rope = tables[id(attn.rope)]
    # The converted model lists its encodings' parameters for timm's optimizers: now the tables'.
    kept = {name for name in model.no_weight_decay() if ".rope." not in name}
    exported.no_weight_decay = type(model.no_weight_decay)(
        kept
        | {
            f"{name}.rope.{p}"
            for name, m in exported.named_modules()
            if isinstance(m, timm_vit.RotaryAttention)
            for p in m.rope.no_weight_decay()
        }
    )
    return exported
