"""The ViT (training/vit.py): relative models see offsets only, the class token is a prefix token, the
plane-basis (logit) path is the same network, and encodings are shared or per layer."""

from __future__ import annotations

import pytest
import torch

import rope_blocks as rb
from training import models
from training.vit import ViT, ViTConfig

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_class_token_is_not_rotated_and_relative_models_see_offsets_only():
    # With only relative rotations (no absolute embedding) and mean pooling, shifting the content of a
    # zero-padded image must not change the output up to the edges: the translation RoPE is known for.
    torch.manual_seed(0)
    cfg = ViTConfig(
        image_size=8,
        in_chans=1,
        num_classes=3,
        dim=16,
        depth=1,
        heads=2,
        dim_head=8,
        mlp_dim=16,
        family="axial",
        pool="mean",
    )
    model = ViT(cfg).eval()
    with torch.no_grad():
        model.patch_embed.bias.zero_()  # blank pixels then give zero tokens, so padding is invisible
    img = torch.zeros(1, 1, 12, 12)
    img[0, 0, 2:6, 3:7] = torch.randn(4, 4)
    shifted = torch.roll(img, shifts=(3, 2), dims=(2, 3))
    with torch.no_grad():
        a, b = model(img), model(shifted)
    assert torch.allclose(a, b, atol=1e-5)
    # An absolute embedding is the negative control: the same shift changes its output.
    torch.manual_seed(0)
    absolute = ViT(ViTConfig(**{**cfg.__dict__, "family": "none", "image_size": 12})).eval()
    with torch.no_grad():
        absolute.patch_embed.bias.zero_()
        assert not torch.allclose(absolute(img), absolute(shifted), atol=1e-5)
    # The class token has no position: the ViT passes it as a prefix token, which the encoding does not rotate.
    seen = {}
    cls_model = ViT(
        ViTConfig(
            image_size=4, in_chans=1, num_classes=3, dim=16, depth=1, heads=2, dim_head=8, mlp_dim=16, family="axial"
        )
    )
    enc = cls_model.encodings[0]
    original = enc.forward

    def spy(q, k, pos, **kwargs):
        seen["pos"], seen["kwargs"], seen["out"], seen["q"] = pos, kwargs, original(q, k, pos, **kwargs), q
        return seen["out"]

    enc.forward = spy
    cls_model(torch.randn(2, 1, 4, 4))
    assert seen["pos"].shape == (16, 2) and torch.equal(seen["pos"], rb.grid_positions(4, 4))
    assert seen["kwargs"]["num_prefix_tokens"] == 1
    assert torch.equal(seen["out"][0][:, :, 0], seen["q"][:, :, 0])


@pytest.mark.parametrize(
    "name",
    [
        "vit_rope_2D_axial_3x3_1_digits",
        "vit_commuting_axial_rope_2D_4x4_digits",
        "vit_commuting_mixed_rope_2D_3x3_matched_digits",
        "vit_liere_rope_2D_4x4_digits",
        "vit_mixed_rope_2D_2x2_digits",
        "vit_weighted_rope_2D_axial_3x3_digits",
    ],
)
def test_logit_path_gives_the_same_network_as_the_full_rotation(name):
    # The ViT leaves q and k in the encoding's plane basis (for_logits); with a learned or
    # permuted basis this holds only if the class token is in that basis too.
    torch.manual_seed(0)
    model = models.build_model(name, image_size=8, in_chans=1, num_classes=10, dropout=0.0, blank_value=(0.0,))
    model.eval()
    with torch.no_grad():
        stiefel = set(rb.stiefel_parameters(model))
        for p in model.encodings.parameters():  # move learned bases and frequencies off their start
            if p in stiefel:
                p.copy_(torch.linalg.qr(torch.randn_like(p))[0])  # another point of the manifold
            else:
                p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        fast = model(x)
        for enc in model.encodings:  # whatever the ViT asks for, rotate fully
            enc.forward = lambda q, k, pos, num_prefix_tokens, for_logits, folded, enc=enc: type(enc).forward(
                enc, q, k, pos, num_prefix_tokens=num_prefix_tokens
            )
        full = model(x)
    assert torch.allclose(fast, full, atol=1e-5), (fast - full).abs().max()


def test_absolute_embedding_only_for_the_baseline_and_resized_for_other_inputs():
    base = models.build_model("vit_no_rope_digits", image_size=8, in_chans=1, num_classes=10)
    rope = models.build_model("vit_rope_2D_axial_2x2_digits", image_size=8, in_chans=1, num_classes=10)
    assert base.pos_embed is not None and rope.pos_embed is None
    assert len(base.encodings) == 0 and len(rope.encodings) == rope.cfg.depth
    assert base(torch.randn(2, 1, 16, 16)).shape == (2, 10)  # bigger canvas: the embedding is resampled


def test_shared_and_per_layer_encodings():
    kwargs = dict(
        image_size=4, in_chans=1, num_classes=3, dim=16, depth=3, heads=2, dim_head=8, mlp_dim=16, family="mixed"
    )
    per_layer, shared = ViT(ViTConfig(**kwargs)), ViT(ViTConfig(**kwargs, share_encoding=True))
    n_enc = sum(p.numel() for p in per_layer.encodings[0].parameters())
    assert n_enc > 0
    assert sum(p.numel() for p in per_layer.encodings.parameters()) == 3 * n_enc
    assert sum(p.numel() for p in shared.encodings.parameters()) == n_enc
    # Per layer, each layer's frequencies get their own gradient; shared, one tensor collects all three.
    x = torch.randn(2, 1, 4, 4)
    shared(x).sum().backward()
    grads = [p.grad for p in shared.encodings.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    per_layer(x).sum().backward()
    g = [next(e.parameters()).grad for e in per_layer.encodings]
    assert not torch.equal(g[0], g[1])
