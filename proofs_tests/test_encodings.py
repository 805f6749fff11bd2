"""Numerics of every family: fast path vs dense reference vs scipy's expm, orthogonality,
the relative property and its consequence for attention logits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

import rope_blocks as rb

HEAD_DIM, HEADS = 24, 2  # 24: k = 2, 3, 4, 6, 8 divide it; k = 5 leaves 4 dims to pass through
BLOCK_SIZES = (2, 3, 4, 5, 6, 8)
AXES = (1, 2, 3)


def _cases():
    for n in AXES:
        yield "none", 2, n, {}
        yield "axial", 2, n, {}
        yield "mixed", 2, n, {}
        for k in BLOCK_SIZES:
            yield "givens", k, n, {"plane": (0, k - 1)}
            yield "weighted", k, n, {}
            yield "liere", k, n, {}
            for design in ("axial", "mixed"):
                for basis in ("fixed", "stiefel", "cayley", "matrix_exp"):
                    yield "commuting", k, n, {"design": design, "basis": basis}


CASES = list(_cases())
IDS = [f"{f}-k{k}-n{n}" + "".join(f"-{v}" for v in o.values()) for f, k, n, o in CASES]


def make(family, k, n, options, seed=0):
    torch.manual_seed(seed)
    return rb.build(family, head_dim=HEAD_DIM, num_heads=HEADS, n_axes=n, block_size=k, **options)


def extent(family):
    """Position range: LieRE's convention is positions normalised to [0, 1]."""
    return 1.0 if family == "liere" else 16.0


def is_violated_by_theory(family, k, n):
    return (family == "weighted" and k >= 3) or (family == "liere" and k >= 3 and n >= 2)


@pytest.mark.parametrize("family,k,n,options", CASES, ids=IDS)
def test_fast_path_equals_dense_reference(family, k, n, options):
    enc = make(family, k, n, options)
    assert rb.fast_vs_dense_error(enc, extent=extent(family)) <= 1e-5


@pytest.mark.parametrize(
    "family,k,n,options",
    [c for c in CASES if c[0] != "weighted"],
    ids=[i for c, i in zip(CASES, IDS) if c[0] != "weighted"],
)
@torch.no_grad()
def test_dense_reference_is_expm_of_generators_and_a_rotation(family, k, n, options):
    enc = make(family, k, n, options).double()
    for p in rb.stiefel_parameters(enc):  # a float32 point is orthogonal to 1e-7 only; project it exactly
        p.copy_(p.manifold.projx(p))
    gens = enc.generators(torch.float64)
    assert gens.shape == (HEADS, n, HEAD_DIM, HEAD_DIM)
    assert (gens + gens.transpose(-1, -2)).abs().max() <= 1e-15
    pos = torch.rand(5, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 * extent(family)
    dense = enc.rotation(pos)
    assert dense.shape == (HEADS, 5, HEAD_DIM, HEAD_DIM) and dense.dtype == torch.float64
    for h in range(HEADS):
        for i in range(len(pos)):
            exponent = np.einsum("a,aij->ij", pos[i].numpy(), gens[h].numpy())
            assert np.abs(scipy.linalg.expm(exponent) - dense[h, i].numpy()).max() <= 1e-10
    gram = dense.transpose(-1, -2) @ dense
    assert (gram - torch.eye(HEAD_DIM, dtype=torch.float64)).abs().max() <= 1e-12
    assert (torch.linalg.det(dense) - 1).abs().max() <= 1e-12


@pytest.mark.parametrize("family,k,n,options", CASES, ids=IDS)
def test_relative_property_matches_theory(family, k, n, options):
    enc = make(family, k, n, options)
    error = rb.relative_error(enc, extent=extent(family))
    violated = is_violated_by_theory(family, k, n)
    assert enc.relative is not violated
    if violated:
        assert error > 1e-3
    else:
        assert error <= 1e-5


@pytest.mark.parametrize("family,k,n,options", CASES, ids=IDS)
def test_attention_logits_depend_only_on_offsets(family, k, n, options):
    enc = make(family, k, n, options)
    g = torch.Generator().manual_seed(2)
    q = torch.rand(1, HEADS, 12, HEAD_DIM, generator=g) * 2 - 1
    kk = torch.rand(1, HEADS, 12, HEAD_DIM, generator=g) * 2 - 1
    pos = torch.rand(12, n, generator=g) * extent(family)
    shift = torch.full((n,), 0.37 * extent(family))

    def logits(p):
        q2, k2 = enc(q, kk, p)
        return q2 @ k2.transpose(-1, -2)

    change = (logits(pos) - logits(pos + shift)).abs().max().item()
    if is_violated_by_theory(family, k, n):
        assert change > 1e-2
    else:
        assert change <= 1e-4


def test_weighted_is_not_a_rotation_for_k_at_least_3():
    assert rb.orthogonality_error(make("weighted", 2, 2, {})) <= 1e-12
    for k in (3, 4, 6):
        assert rb.orthogonality_error(make("weighted", k, 2, {})) > 1e-2
    with pytest.raises(ValueError, match="not defined by generators"):
        make("weighted", 3, 2, {}).generators()


@pytest.mark.parametrize(
    "family,k,options,rotated",
    [
        ("none", 2, {}, 0),
        ("axial", 2, {}, 24),
        ("givens", 3, {}, 16),
        ("givens", 5, {}, 8),
        ("commuting", 3, {"basis": "fixed"}, 16),
        ("commuting", 5, {"basis": "fixed"}, 16),
        ("commuting", 8, {"basis": "fixed"}, 24),
        ("weighted", 5, {}, 20),
        ("liere", 5, {}, 20),
    ],
)
def test_rotated_dims_and_untouched_remainder(family, k, options, rotated):
    enc = make(family, k, 2, options)
    assert enc.rotated_dims == rotated
    q = torch.randn(2, HEADS, 9, HEAD_DIM)
    pos = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0))
    q2, _ = enc(q, q, pos)
    tail = enc.block_dims
    assert torch.equal(q2[..., tail:], q[..., tail:])
    moved = (q2 - q).abs().amax(dim=(0, 1, 2)) > 1e-6
    assert int(moved.sum()) == rotated


def test_givens_rotates_only_its_plane():
    enc = make("givens", 3, 1, {"plane": (0, 2)})
    q = torch.randn(1, HEADS, 4, HEAD_DIM)
    q2, _ = enc(q, q, torch.arange(4.0)[:, None])
    blocks, blocks2 = q.unflatten(-1, (8, 3)), q2.unflatten(-1, (8, 3))
    assert torch.equal(blocks[..., 1], blocks2[..., 1])
    assert not torch.allclose(blocks[..., 2], blocks2[..., 2])


def test_axial_matches_textbook_rope_frequencies():
    """1D axial is RoPE with theta_j = base^(-2j/D) on interleaved pairs."""
    enc = rb.build("axial", head_dim=8, num_heads=1, n_axes=1, base=100.0)
    pos = torch.tensor([[3.0]])
    x = torch.randn(1, 1, 1, 8)
    theta = 100.0 ** (-torch.arange(0, 8, 2) / 8) * 3.0
    x0, x1 = x[..., 0::2], x[..., 1::2]
    expected = torch.stack((x0 * theta.cos() - x1 * theta.sin(), x0 * theta.sin() + x1 * theta.cos()), -1).flatten(-2)
    assert torch.allclose(enc.rotate(x, pos), expected, atol=1e-6)


def test_integer_positions_are_accepted():
    enc = make("axial", 2, 2, {})
    q = torch.randn(1, HEADS, 4, HEAD_DIM)
    grid = torch.cartesian_prod(torch.arange(2), torch.arange(2))
    assert torch.equal(enc(q, q, grid)[0], enc(q, q, grid.float())[0])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("family", ["axial", "commuting", "liere"])
def test_low_precision_inputs_keep_dtype_and_angles_stay_float32(dtype, family):
    torch.manual_seed(0)
    enc = rb.build(
        family, head_dim=HEAD_DIM, num_heads=HEADS, n_axes=2, **({"init_scale": 1e-3} if family == "liere" else {})
    )
    q = (torch.rand(2, HEADS, 6, HEAD_DIM) * 2 - 1).to(dtype)
    # Large positions: angles computed in 16 bits would be off by whole radians here.
    pos = torch.rand(6, 2) * 1000 + 1000
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q2, k2 = enc(q, q, pos)
    assert q2.dtype == dtype and k2.dtype == dtype and q2.shape == q.shape
    reference, _ = enc(q.float(), q.float(), pos)
    assert (q2.float() - reference).abs().max() <= 2e-2


def test_autocast_does_not_change_float32_results():
    enc = make("commuting", 4, 2, {"design": "mixed"})
    q = torch.randn(2, HEADS, 6, HEAD_DIM)
    pos = torch.rand(6, 2) * 16
    plain = enc(q, q, pos)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = enc(q, q, pos)[0]
    assert auto.dtype == torch.float32 and torch.equal(plain, auto)


@pytest.mark.parametrize(
    "family,k,options",
    [
        ("commuting", 4, {"basis": "cayley", "design": "mixed"}),
        ("commuting", 3, {"basis": "stiefel"}),
        ("givens", 3, {"plane": (1, 2)}),
        ("axial", 2, {}),
        ("liere", 4, {}),
        ("weighted", 3, {}),
    ],
)
def test_logit_equivalent_path_keeps_every_dot_product(family, k, options):
    enc = make(family, k, 2, options)
    q = torch.rand(2, HEADS, 9, HEAD_DIM) * 2 - 1
    kk = torch.rand(2, HEADS, 9, HEAD_DIM) * 2 - 1
    pos = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0)) / 3
    q1, k1 = enc(q, kk, pos)
    q2, k2 = enc(q, kk, pos, for_logits=True)
    assert torch.allclose(q1 @ k1.transpose(-1, -2), q2 @ k2.transpose(-1, -2), atol=1e-5)
    if family in ("commuting", "givens"):  # a real basis: the vectors themselves differ
        assert not torch.allclose(q1, q2, atol=1e-3)
