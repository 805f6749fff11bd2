"""Learned parameters: bases stay on SO(k) under training, gradients reach every parameter,
per-head and per-layer options create distinct parameters, and weight decay skips them all."""

from __future__ import annotations

import geoopt
import pytest
import torch

import rope_blocks as rb

D, H = 24, 3


def train(enc, optimizer, steps=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(4, H, 9, D, generator=g)
    target = torch.randn(4, H, 9, D, generator=g)
    pos = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0))
    for _ in range(steps):
        optimizer.zero_grad()
        q2, k2 = enc(q, q, pos)
        loss = ((q2 - target) ** 2).mean() + (q2 @ k2.transpose(-1, -2)).square().mean() * 1e-3
        loss.backward()
        optimizer.step()


def basis_matrix(enc):
    return enc.basis.matrix(torch.float32).detach().clone()


def basis_orthogonality(enc):
    q = basis_matrix(enc)
    gram = q.transpose(-1, -2) @ q - torch.eye(q.shape[-1])
    return gram.abs().max().item(), torch.linalg.det(q)


@pytest.mark.parametrize(
    "basis,optimizer",
    [
        ("stiefel", lambda p: geoopt.optim.RiemannianAdam(p, lr=0.05)),
        ("cayley", lambda p: torch.optim.Adam(p, lr=0.05)),
        ("matrix_exp", lambda p: torch.optim.Adam(p, lr=0.05)),
    ],
)
@pytest.mark.parametrize("k", [3, 4, 6])
def test_learned_basis_stays_orthogonal_and_relative(basis, optimizer, k):
    torch.manual_seed(0)
    enc = rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, block_size=k, basis=basis, freqs="learned")
    before = basis_matrix(enc)
    train(enc, optimizer(enc.parameters()))
    after = basis_matrix(enc)
    assert (after - before).abs().max() > 1e-2, "the basis did not move: the test would prove nothing"
    gram_error, det = basis_orthogonality(enc)
    assert gram_error <= 1e-5
    assert torch.allclose(det, torch.ones_like(det), atol=1e-5)
    assert rb.relative_error(enc) <= 1e-5


def test_stiefel_basis_needs_the_riemannian_optimizer():
    """The control for the test above: a Euclidean optimizer drifts off the manifold."""
    torch.manual_seed(0)
    enc = rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, block_size=4, basis="stiefel")
    train(enc, torch.optim.Adam(enc.parameters(), lr=0.05))
    assert basis_orthogonality(enc)[0] > 1e-3
    assert rb.relative_error(enc) > 1e-3


@pytest.mark.parametrize(
    "family,options",
    [
        ("mixed", {}),
        ("commuting", {"basis": "stiefel", "freqs": "learned", "block_size": 4}),
        ("commuting", {"basis": "cayley", "design": "mixed", "block_size": 6}),
        ("commuting", {"basis": "matrix_exp", "freqs": "learned", "block_size": 3}),
        ("liere", {"block_size": 4}),
    ],
)
def test_gradients_reach_every_learned_parameter(family, options):
    torch.manual_seed(0)
    enc = rb.build(family, head_dim=D, num_heads=H, n_axes=2, **options)
    params = dict(enc.named_parameters())
    assert params, "a learned family without parameters"
    q = torch.randn(2, H, 9, D)
    pos = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0)) / 3
    q2, k2 = enc(q, q, pos)
    (q2 @ k2.transpose(-1, -2)).sin().sum().backward()
    for name, p in params.items():
        assert p.grad is not None and p.grad.abs().max() > 0, f"no gradient reaches {name}"
    assert enc.no_weight_decay() == set(params)


@pytest.mark.parametrize("family", ["none", "axial", "givens", "weighted"])
def test_fixed_families_have_nothing_to_learn(family):
    enc = rb.build(family, head_dim=D, num_heads=H, n_axes=2)
    assert list(enc.parameters()) == [] and enc.no_weight_decay() == set()


@pytest.mark.parametrize(
    "family,options",
    [
        ("mixed", {}),
        ("commuting", {"basis": "cayley", "block_size": 4}),
        ("commuting", {"basis": "stiefel", "design": "mixed", "block_size": 4}),
        ("liere", {"block_size": 4}),
    ],
)
def test_per_head_and_per_layer_parameters_are_distinct(family, options):
    torch.manual_seed(0)
    per_head = rb.build(family, head_dim=D, num_heads=H, n_axes=2, **options)
    shared = rb.build(family, head_dim=D, num_heads=H, n_axes=2, per_head=False, **options)
    another_layer = rb.build(family, head_dim=D, num_heads=H, n_axes=2, **options)
    pos = torch.tensor([[1.0, 2.0]])
    r_per_head, r_shared = per_head.rotation(pos), shared.rotation(pos)
    for h in range(1, H):
        assert not torch.allclose(r_per_head[0], r_per_head[h])
        assert torch.equal(r_shared[0], r_shared[h])
    for (name, p), (_, p_other) in zip(per_head.named_parameters(), another_layer.named_parameters()):
        assert p.shape[0] == H
        assert not torch.equal(p, p_other), f"{name} repeats across layers"
    assert all(p.shape[0] == 1 for p in shared.parameters())
    assert sum(p.numel() for p in per_head.parameters()) == H * sum(p.numel() for p in shared.parameters())


def test_stiefel_parameters_are_found_for_the_riemannian_optimizer():
    model = torch.nn.ModuleList(
        [
            rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, basis="stiefel"),
            rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, basis="cayley"),
            torch.nn.Linear(4, 4),
        ]
    )
    found = rb.stiefel_parameters(model)
    assert len(found) == 1 and isinstance(found[0].manifold, geoopt.Stiefel)
    assert len(rb.encodings(model)) == 2


def test_identity_basis_init_starts_as_the_fixed_design():
    torch.manual_seed(0)
    learned = rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, basis="cayley", basis_init="identity")
    fixed = rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, basis="fixed")
    pos = torch.tensor([[3.0, -1.5]])
    assert torch.allclose(learned.rotation(pos), fixed.rotation(pos), atol=1e-12)


def test_state_dict_round_trip_restores_the_encoding():
    torch.manual_seed(0)
    a = rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, design="mixed", basis="stiefel", freqs="learned")
    torch.manual_seed(1)
    b = rb.build("commuting", head_dim=D, num_heads=H, n_axes=2, design="mixed", basis="stiefel", freqs="learned")
    pos = torch.tensor([[2.0, 5.0]])
    assert not torch.allclose(a.rotation(pos), b.rotation(pos))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.rotation(pos), b.rotation(pos))
