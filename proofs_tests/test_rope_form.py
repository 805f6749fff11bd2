"""Export (theory T5), rope_blocks/export.py: every relative design is 2x2 RoPE in a basis that folds into
W_q and W_k.

Checked against the encodings' dense rotations, against an independent complex-number RoPE
(conftest.complex_rope), and on timm. The ViT export and `rope-blocks export` are in test_export.py.
"""

from __future__ import annotations

import pytest
import torch
from conftest import complex_rope, perturb

import rope_blocks as rb
from rope_blocks.basis import LEARNED_BASES
from rope_blocks.export import RoPEForm, export_timm, fold_qkv, rope_form

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- rope_form


def _commuting_cases():
    """Every basis x k in (2, 3, 4, 8), alternating design, axes and per_head; head_dim 2k + 1, which k never
    divides."""
    for i, (basis, k) in enumerate((b, k) for b in ("fixed", *LEARNED_BASES) for k in (2, 3, 4, 8)):
        options = {"basis": basis, "design": ("axial", "mixed")[i % 2], "per_head": i % 3 != 0}
        yield pytest.param("commuting", k, 2 * k + 1, 1 + (i // 2) % 2, options, id=f"commuting-{basis}-k{k}-{i}")


FORM_CASES = [
    pytest.param("axial", 2, 16, 1, {}, id="axial-1d"),
    pytest.param("axial", 2, 16, 2, {}, id="axial-2d"),
    pytest.param("mixed", 2, 15, 2, {}, id="mixed-2d-odd-dim"),
    pytest.param("mixed", 2, 16, 1, {"per_head": False}, id="mixed-1d-shared"),
    *(
        pytest.param("givens", k, 4 * k + 1, 2, {"plane": plane}, id=f"givens-k{k}-{plane}")
        for k, plane in ((3, (0, 1)), (3, (0, 2)), (3, (1, 2)), (4, (1, 3)), (5, (2, 4)), (6, (0, 5)))
    ),
    *_commuting_cases(),
    pytest.param("liere", 2, 9, 2, {}, id="liere-2x2"),
]


@pytest.mark.parametrize("family, k, dim, n_axes, options", FORM_CASES)
def test_rope_form_is_the_encoding(family, k, dim, n_axes, options):
    torch.manual_seed(0)
    enc = rb.build(family, head_dim=dim, num_heads=3, n_axes=n_axes, block_size=k, **options)
    perturb(enc)
    form = rope_form(enc)
    assert isinstance(form, RoPEForm)
    assert form.basis.shape == (3, dim, dim) and form.freqs.shape == (3, dim // 2, n_axes)
    assert form.basis.dtype == form.freqs.dtype == torch.float64
    eye = torch.eye(dim, dtype=torch.float64)
    tol = 1e-6 if options.get("basis") == "stiefel" else 1e-12  # a Stiefel basis is stored in float32
    assert torch.allclose(form.basis.transpose(-1, -2) @ form.basis, eye.expand(3, -1, -1), atol=tol)
    # Pairs past the rotated planes (the odd dim of odd-k blocks, the dims past the last block) stay still.
    assert not form.freqs[:, enc.rotated_dims // 2 :].any()
    assert form.freqs[:, : enc.rotated_dims // 2].abs().sum(-1).min() > 0
    # R(p) x = B P(p) B^T x at every position, P RoPE's interleaved pairs (the complex form above).
    pos = torch.randn(6, n_axes, dtype=torch.float64) * 4
    x = torch.randn(3, 6, dim, dtype=torch.float64)  # (H, N, D): one vector per head and position
    expected = (enc.rotation(pos) @ x.unsqueeze(-1)).squeeze(-1)
    got = complex_rope(x @ form.basis, form.freqs, pos) @ form.basis.transpose(-1, -2)
    assert torch.allclose(got, expected, atol=1e-12)
    assert torch.allclose(form.rotation(pos), enc.rotation(pos), atol=1e-12)


@pytest.mark.parametrize(
    "family, k, n_axes, pattern",
    [
        ("weighted", 3, 2, r"not relative: its blocks are not even orthogonal \(theory T7\)"),
        ("weighted", 4, 1, r"not relative: its blocks are not even orthogonal \(theory T7\)"),
        ("weighted", 2, 2, r"block_size=2 is relative .* build the model as family 'axial'"),
        ("liere", 4, 2, r"not relative: its generators do not commute \(theory T9\)"),
        ("liere", 3, 1, r"n_axes=1, block_size=3 is relative .* does not compute the plane basis"),
        ("none", 2, 2, r"'none' family rotates nothing, so there is nothing to export"),
    ],
)
def test_rope_form_refuses_what_has_no_2x2_form(family, k, n_axes, pattern):
    enc = rb.build(family, head_dim=12, num_heads=2, n_axes=n_axes, block_size=k)
    with pytest.raises(ValueError, match=pattern):
        rope_form(enc)


def test_fold_qkv_leaves_values_alone_and_checks_shapes():
    basis = rope_form(rb.build("commuting", head_dim=4, num_heads=2, block_size=4, design="mixed")).basis
    w = torch.randn(24, 5)
    folded = fold_qkv(w, basis)
    assert torch.equal(folded[16:], w[16:]) and not torch.allclose(folded[:8], w[:8])
    with pytest.raises(ValueError, match="3 x H x D rows"):
        fold_qkv(torch.randn(25, 5), basis)
    with pytest.raises(ValueError, match="the 8 = H x D query or key rows"):
        fold_qkv(torch.randn(30, 5), basis)


# ---------------------------------------------------------------- timm (optional)


def converted_timm(family, k, qk_norm=False, **options):
    pytest.importorskip("timm")
    from timm.models.vision_transformer import VisionTransformer

    from rope_blocks import timm_vit

    torch.manual_seed(3)
    model = VisionTransformer(
        img_size=16, patch_size=4, embed_dim=48, depth=2, num_heads=2, num_classes=5, qk_norm=qk_norm
    ).eval()
    model = timm_vit.convert(model, family, block_size=k, **options)
    perturb(model, 0.1)  # the qkv biases too
    return model


TIMM_CASES = [
    ("axial", 2, {}),
    ("mixed", 2, {"n_axes": 1}),
    ("givens", 3, {"plane": (0, 2)}),
    ("liere", 2, {}),
    *(
        ("commuting", k, {"basis": basis, "design": ("axial", "mixed")[i % 2]})
        for i, (basis, k) in enumerate((b, k) for b in ("fixed", *LEARNED_BASES) for k in (2, 3, 4, 8))
    ),
]


@pytest.mark.parametrize("family, k, options", TIMM_CASES, ids=lambda c: str(c))
def test_export_timm_keeps_the_logits(family, k, options):
    from rope_blocks import timm_vit

    model = converted_timm(family, k, **options)
    exported = export_timm(model)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max() < 1e-5
    attentions = timm_vit.rotary_attentions(exported)
    assert all(type(a.rope).__name__ == "MixedRoPE" and a.rope.block_size == 2 for a in attentions)
    assert model.blocks[0].attn.rope.family == family  # the original is left as it was
    assert {f"blocks.{i}.attn.rope.freqs.freqs" for i in range(2)} <= exported.no_weight_decay()


def test_export_timm_refuses():
    for family, k, pattern in (("weighted", 3, "T7"), ("liere", 4, "T9")):
        with pytest.raises(ValueError, match=f"not relative: .*{pattern}"):
            export_timm(converted_timm(family, k))
    with pytest.raises(ValueError, match=r"q_norm is LayerNorm.* does not commute with the basis"):
        export_timm(converted_timm("commuting", 4, qk_norm=True))
    with pytest.raises(ValueError, match="no rotary attention to export"):
        export_timm(torch.nn.Linear(2, 2))
