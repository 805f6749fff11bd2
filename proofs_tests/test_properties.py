"""Property tests: the relative property and fast == dense for random bases, frequencies,
generators and positions drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import rope_blocks as rb
from rope_blocks.frequencies import orthogonal_from_qr

D, H = 16, 2
finite = st.floats(-4, 4, allow_nan=False, width=64)
coords = st.floats(-40, 40, allow_nan=False, width=64)


def positions(n_axes, count=4):
    return arrays(np.float64, (count, n_axes), elements=coords)


@st.composite
def commuting_encodings(draw):
    """A commuting encoding whose basis and frequencies are set to hypothesis-drawn values."""
    k = draw(st.integers(2, 8))
    n = draw(st.integers(1, 3))
    design = draw(st.sampled_from(["axial", "mixed"])) if D // k >= n else "mixed"
    enc = rb.build(
        "commuting",
        head_dim=D,
        num_heads=H,
        n_axes=n,
        block_size=k,
        design=design,
        basis="stiefel",
        freqs="learned",
        per_head=draw(st.booleans()),
    ).double()
    basis, freqs = enc.basis.weight, enc.freqs.freqs
    raw = draw(arrays(np.float64, tuple(basis.shape), elements=finite))
    q = orthogonal_from_qr(torch.from_numpy(raw + 3 * np.eye(k)))  # the shift keeps the draw well conditioned
    with torch.no_grad():
        basis.copy_(q)
        freqs.copy_(torch.from_numpy(draw(arrays(np.float64, tuple(freqs.shape), elements=finite))))
    return enc, n


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_commuting_is_relative_for_any_orthogonal_basis_and_frequencies(data):
    enc, n = data.draw(commuting_encodings())
    x, y = data.draw(positions(n)), data.draw(positions(n))
    assert rb.relative_error(enc, positions=(torch.from_numpy(x), torch.from_numpy(y))) <= 1e-9


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_fast_path_equals_dense_for_random_parameters(data):
    enc, n = data.draw(commuting_encodings())
    enc = enc.float()
    pos = torch.from_numpy(data.draw(positions(n, count=5)))
    q = torch.from_numpy(data.draw(arrays(np.float64, (1, H, 5, D), elements=st.floats(-1, 1, width=64))))
    fast, _ = enc(q.float(), q.float(), pos.float())
    dense = torch.einsum("hnij,zhnj->zhni", enc.rotation(pos.float()).double(), q)
    assert (fast.double() - dense).abs().max() <= 1e-4


@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16), k=st.integers(2, 6), n=st.integers(1, 3))
def test_liere_is_relative_exactly_when_generators_commute(data, seed, k, n):
    torch.manual_seed(seed)
    enc = rb.build("liere", head_dim=D, num_heads=H, n_axes=n, block_size=k).double()
    x = torch.from_numpy(data.draw(arrays(np.float64, (4, n), elements=st.floats(0, 1, width=64))))
    y = torch.from_numpy(data.draw(arrays(np.float64, (4, n), elements=st.floats(0, 1, width=64))))
    error = rb.relative_error(enc, positions=(x, y))
    gens = enc.generators(torch.float64)
    commutators = max(
        (gens[:, a] @ gens[:, b] - gens[:, b] @ gens[:, a]).abs().max().item() for a in range(n) for b in range(n)
    )
    assert enc.relative == (commutators <= 1e-9)
    if enc.relative:
        assert error <= 1e-9
    else:  # drawn positions may be special (x = 0 gives no error), so check a generic pair too
        generic = (torch.tensor([[0.3, 0.9, 0.5][:n]]), torch.tensor([[0.7, 0.1, 0.2][:n]]))
        assert rb.relative_error(enc, positions=generic) > 1e-6


@settings(max_examples=30, deadline=None)
@given(k=st.integers(3, 8), phi=st.floats(0.05, 3.0))
def test_weighted_block_shrinks_vectors(k, phi):
    """The seed's mean of Givens rotations is a contraction for k >= 3 at any non-zero angle."""
    enc = rb.build("weighted", head_dim=k, num_heads=1, n_axes=1, block_size=k, base=100.0)
    r = enc.rotation(torch.tensor([[phi]], dtype=torch.float64))[0, 0]
    singular = torch.linalg.svdvals(r)
    assert singular.min() < 1 - 1e-6 and singular.max() <= 1 + 1e-12
