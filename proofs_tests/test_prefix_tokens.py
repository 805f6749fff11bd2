"""Prefix tokens (class, registers) through the encoding: ``enc(q, k, pos, num_prefix_tokens=P)``.

The contract (rope_blocks/base.py): the first P tokens have no position and are not rotated. In
rotate mode they come back exactly as they are; with ``for_logits`` or ``folded`` they come back in
the plane basis at position 0, so that every logit q'_i . k'_j is the one of the dense reference.
The regression: the README once left the class token out of the encoding and rotated only the
patches with ``for_logits=True``; with a learned basis the class token's logits were then wrong (by
4.3 in a report), because the patches came back in the plane basis and the class token did not.
"""

from __future__ import annotations

import pytest
import torch

import rope_blocks as rb

B, H, D = 2, 2, 16
ROWS, COLS = 3, 4


def learned(basis: str) -> rb.RotaryEncoding:
    torch.manual_seed(0)
    enc = rb.build("commuting", head_dim=D, num_heads=H, block_size=4, design="mixed", basis=basis).double()
    stiefel = {id(p) for p in rb.stiefel_parameters(enc)}
    with torch.no_grad():  # move the frequencies and the basis off their start
        for p in enc.parameters():
            if id(p) in stiefel:  # another point of the manifold, orthogonal in float64 (its start is float32's)
                p.copy_(torch.linalg.qr(torch.randn_like(p))[0])
            else:
                p.add_(0.3 * torch.randn_like(p))
    return enc


def dense_rotated(enc, x: torch.Tensor, pos: torch.Tensor, n_prefix: int) -> torch.Tensor:
    """The reference: prefix tokens unrotated, token i after them rotated by enc.rotation(pos)[h, i]."""
    rotated = torch.einsum("hnij,bhnj->bhni", enc.rotation(pos), x[:, :, n_prefix:])
    return torch.cat((x[:, :, :n_prefix], rotated), dim=2)


def logits(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(-1, -2)


def heads(t: torch.Tensor) -> torch.Tensor:
    """(B, N, H * D) -> (B, H, N, D)."""
    return t.unflatten(-1, (H, D)).transpose(1, 2)


@pytest.fixture
def inputs():
    """Float64 tokens and projections: a class token, then a 3 x 4 grid of patches."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, 1 + ROWS * COLS, 7, generator=g, dtype=torch.float64)
    wq, wk = (torch.randn(H * D, 7, generator=g, dtype=torch.float64) for _ in range(2))
    pos = rb.grid_positions(ROWS, COLS).double()
    return x, wq, wk, pos


@pytest.mark.parametrize("basis", ["cayley", "stiefel"])
def test_class_token_logits_match_the_dense_reference(basis, inputs):
    enc = learned(basis)
    x, wq, wk, pos = inputs
    q, k = heads(x @ wq.T), heads(x @ wk.T)
    reference = logits(dense_rotated(enc, q, pos, 1), dense_rotated(enc, k, pos, 1))

    # (b) The old README usage: the class token left out of q, k and pos, the patches rotated for logits.
    with torch.no_grad():
        qp, kp = enc(q[:, :, 1:], k[:, :, 1:], pos, for_logits=True)
    old = logits(torch.cat((q[:, :, :1], qp), dim=2), torch.cat((k[:, :, :1], kp), dim=2))
    assert (old[..., 1:, 1:] - reference[..., 1:, 1:]).abs().max() < 1e-10  # patch to patch: right
    assert (old[..., 0, 1:] - reference[..., 0, 1:]).abs().max() > 1e-2  # the class token's: wrong
    assert (old[..., 1:, 0] - reference[..., 1:, 0]).abs().max() > 1e-2

    # (c) The prefix-token API, in each of its three modes.
    with torch.no_grad():
        plain = enc(q, k, pos, num_prefix_tokens=1)
        for_logits = enc(q, k, pos, num_prefix_tokens=1, for_logits=True)
        folded = enc(
            heads(x @ enc.fold_weight(wq).T), heads(x @ enc.fold_weight(wk).T), pos, num_prefix_tokens=1, folded=True
        )
    assert (plain[0] - dense_rotated(enc, q, pos, 1)).abs().max() < 1e-10
    for q2, k2 in (plain, for_logits, folded):
        assert q2.dtype == torch.float64 and q2.shape == q.shape
        assert (logits(q2, k2) - reference).abs().max() < 1e-10


@pytest.mark.parametrize("family", rb.families())
@pytest.mark.parametrize("n_prefix", [1, 3])
def test_every_family_keeps_the_logits_of_its_prefix_tokens(family, n_prefix):
    torch.manual_seed(2)
    enc = rb.build(family, head_dim=24, num_heads=H).double()
    pos = rb.grid_positions(ROWS, COLS).double() * (0.1 if enc.unit_positions else 1.0)
    q, k = torch.randn(2, B, H, n_prefix + len(pos), 24, dtype=torch.float64)
    reference = logits(dense_rotated(enc, q, pos, n_prefix), dense_rotated(enc, k, pos, n_prefix))
    with torch.no_grad():
        for mode in ({}, {"for_logits": True}):
            assert (logits(*enc(q, k, pos, num_prefix_tokens=n_prefix, **mode)) - reference).abs().max() < 1e-10


@pytest.mark.parametrize("family", rb.families())
def test_rotate_mode_returns_the_prefix_tokens_bit_exactly(family):
    torch.manual_seed(3)
    enc = rb.build(family, head_dim=24, num_heads=H)
    pos = rb.grid_positions(ROWS, COLS)
    x, y = torch.randn(2, B, H, 2 + len(pos), 24)
    q2, k2 = enc(x, y, pos, num_prefix_tokens=2)
    rotated = enc.rotate(x, pos, num_prefix_tokens=2)
    assert torch.equal(q2[:, :, :2], x[:, :, :2]) and torch.equal(k2[:, :, :2], y[:, :, :2])
    assert torch.equal(rotated[:, :, :2], x[:, :, :2])
    assert torch.equal(rotated[:, :, 2:], enc.rotate(x[:, :, 2:], pos)) and torch.equal(rotated, q2)
    everything = enc.rotate(x, pos[:0], num_prefix_tokens=x.shape[2])  # all prefix: nothing to rotate
    assert torch.equal(everything, x)


@pytest.mark.parametrize(
    "value, pattern",
    [
        (-1, r"num_prefix_tokens must be >= 0, got -1"),
        (1.0, r"num_prefix_tokens must be an integer, got 1\.0"),
        ("1", r"num_prefix_tokens must be an integer"),
        (True, r"num_prefix_tokens must be an integer, got True"),
        (14, r"num_prefix_tokens=14 is more than the 13 tokens of q and k"),
    ],
)
@pytest.mark.parametrize("call", ["forward", "for_logits", "folded", "rotate"])
def test_bad_num_prefix_tokens(value, pattern, call):
    enc = rb.build("commuting", head_dim=D, num_heads=H, block_size=4)
    q = torch.randn(B, H, 1 + ROWS * COLS, D)
    pos = rb.grid_positions(ROWS, COLS)
    run = {
        "forward": lambda **kw: enc(q, q, pos, **kw),
        "for_logits": lambda **kw: enc(q, q, pos, for_logits=True, **kw),
        "folded": lambda **kw: enc(q, q, pos, folded=True, **kw),
        "rotate": lambda **kw: enc.rotate(q, pos, **kw),
    }
    with pytest.raises(ValueError, match=pattern):
        run[call](num_prefix_tokens=value)


@pytest.mark.parametrize("n_pos, n_prefix", [(13, 1), (12, 0), (12, 2), (11, 1)])
def test_a_wrong_count_of_positions_names_num_prefix_tokens(n_pos, n_prefix):
    enc = rb.build("axial", head_dim=D, num_heads=H)
    q = torch.randn(B, H, 13, D)
    pos = torch.zeros(n_pos, 2)
    message = (
        rf"pos has {n_pos} positions but q and k have N=13 tokens, {n_prefix} of them prefix tokens; .*"
        r"as num_prefix_tokens"
    )
    with pytest.raises(ValueError, match=message):
        enc(q, q, pos, num_prefix_tokens=n_prefix)
    with pytest.raises(ValueError, match=message):
        enc.rotate(q, pos, num_prefix_tokens=n_prefix)
    assert enc(q, q, torch.zeros(13 - n_prefix, 2), num_prefix_tokens=n_prefix)[0].shape == q.shape
