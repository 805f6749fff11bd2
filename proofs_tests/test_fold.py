"""Folding the basis into W_q and W_k during training (ViTConfig.fold_basis, fold_weight, folded=True).

The folded model is the same function of the same parameters (theory T5): its logits and its
gradients, the basis's included, match the unfolded model's, and training keeps the basis orthogonal.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import rope_blocks as rb
from training.optim import build_optimizers
from training.vit import ViT, ViTConfig

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def pair(family, k=2, dim_head=12, share=False, **options) -> tuple[ViT, ViT]:
    """(unfolded, folded) ViTs with the same random non-trivial parameters."""
    torch.manual_seed(0)
    cfg = ViTConfig(
        image_size=6,
        in_chans=1,
        num_classes=5,
        dim=20,
        depth=2,
        heads=2,
        dim_head=dim_head,
        mlp_dim=24,
        family=family,
        block_size=k,
        enc_options=options,
        share_encoding=share,
    )
    plain = ViT(cfg)
    with torch.no_grad():
        for p in plain.parameters():
            if type(p) is torch.nn.Parameter:  # a Stiefel basis stays on its manifold
                p.add_(0.1 * torch.randn_like(p))
    folded = ViT(dataclasses.replace(cfg, fold_basis=True))
    folded.load_state_dict(plain.state_dict())
    return plain, folded


CASES = [
    pytest.param("commuting", 4, 12, False, {"basis": "stiefel"}, id="stiefel-k4"),
    pytest.param("commuting", 3, 13, True, {"basis": "cayley", "design": "mixed"}, id="cayley-k3-odd-shared"),
    pytest.param("commuting", 8, 17, False, {"basis": "matrix_exp", "per_head": False}, id="matrix_exp-k8-heads-share"),
    pytest.param("commuting", 2, 12, False, {"basis": "fixed"}, id="fixed-k2"),
    pytest.param("givens", 3, 12, False, {"plane": (1, 2)}, id="givens-3x3"),
    pytest.param("mixed", 2, 12, False, {}, id="mixed"),
]


@pytest.mark.parametrize("family, k, dim_head, share, options", CASES)
def test_folded_vit_is_the_same_function_with_the_same_gradients(family, k, dim_head, share, options):
    plain, folded = pair(family, k, dim_head, share, **options)
    x, labels = torch.randn(3, 1, 6, 6), torch.tensor([0, 3, 4])
    grads = []
    for model in (plain, folded):
        model.train()
        logits = model(x)
        F.cross_entropy(logits, labels).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert (plain(x) - folded(x)).abs().max() < 1e-5
    assert grads[0].keys() == grads[1].keys()
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-5, rtol=1e-4), name
    learned = [n for n in grads[1] if ".basis." in n]
    assert bool(learned) == (options.get("basis") in ("stiefel", "cayley", "matrix_exp"))
    assert all(grads[1][n].abs().sum() > 0 for n in learned)  # the basis still learns


def test_training_with_fold_keeps_a_stiefel_basis_orthogonal():
    _, model = pair("commuting", 4, 12, basis="stiefel", design="mixed")
    optimizers = build_optimizers(model, lr=0.05)
    start = model.encodings[0].basis.matrix().detach().clone()
    for _ in range(5):
        for opt in optimizers:
            opt.zero_grad()
        F.cross_entropy(model(torch.randn(4, 1, 6, 6)), torch.tensor([0, 1, 2, 3])).backward()
        for opt in optimizers:
            opt.step()
    for enc in model.encodings:
        q = enc.basis.matrix().detach()
        assert torch.allclose(q.transpose(-1, -2) @ q, torch.eye(4).expand_as(q), atol=1e-5)
    assert (model.encodings[0].basis.matrix().detach() - start).abs().max() > 1e-3  # it moved


@pytest.mark.parametrize(
    "family, k, options",
    [
        ("commuting", 3, {"basis": "cayley", "per_head": False}),
        ("givens", 4, {"plane": (1, 3)}),
        ("commuting", 4, {"basis": "stiefel", "design": "mixed"}),
    ],
)
def test_fold_weight_then_planes_equals_the_plane_basis_path(family, k, options):
    torch.manual_seed(0)
    enc = rb.build(family, head_dim=2 * k + 1, num_heads=3, n_axes=2, block_size=k, **options)
    w, b, x = torch.randn(3 * enc.head_dim, 7), torch.randn(3 * enc.head_dim), torch.randn(2, 5, 7)
    pos = torch.randn(5, 2)

    def heads(t):
        return t.view(2, 5, 3, enc.head_dim).transpose(1, 2)

    expected = enc(heads(x @ w.T + b), heads(x @ w.T + b), pos, for_logits=True)[0]
    folded = heads(x @ enc.fold_weight(w).T + enc.fold_weight(b))
    assert torch.allclose(enc(folded, folded, pos, folded=True)[0], expected, atol=1e-5)


def test_fold_errors():
    enc = rb.build("commuting", head_dim=8, num_heads=2, block_size=4)
    with pytest.raises(ValueError, match=r"takes the 16 = num_heads x head_dim query or key rows .* got \(48, 5\)"):
        enc.fold_weight(torch.randn(48, 5))
    liere = rb.build("liere", head_dim=8, num_heads=2, block_size=4)
    q = torch.randn(1, 2, 3, 8)
    for call in (lambda: liere.fold_weight(torch.randn(16, 5)), lambda: liere(q, q, torch.zeros(3, 2), folded=True)):
        with pytest.raises(ValueError, match="'liere' family has no plane basis to fold"):
            call()
    for family in ("liere", "none"):
        with pytest.raises(ValueError, match=f"fold_basis=True .* family '{family}' has none. Use fold_basis=False"):
            ViT(
                ViTConfig(
                    image_size=4,
                    in_chans=1,
                    dim=16,
                    heads=2,
                    dim_head=8,
                    mlp_dim=16,
                    family=family,
                    block_size=2,
                    fold_basis=True,
                )
            )
