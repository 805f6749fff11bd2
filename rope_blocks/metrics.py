"""Measured properties of an encoding, from its dense reference matrices in float64."""

from __future__ import annotations

import torch

from .base import RotaryEncoding


def sample_positions(n_axes: int, num_samples: int, seed: int, extent: float) -> torch.Tensor:
    """(num_samples, n_axes) float64 positions, uniform in [-extent, extent], reproducible by seed."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(num_samples, n_axes, generator=g, dtype=torch.float64) * 2 - 1) * extent


@torch.no_grad()
def relative_error(
    enc: RotaryEncoding,
    num_samples: int = 64,
    seed: int = 0,
    extent: float = 16.0,
    positions: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> float:
    """max over sampled pairs (x, y) and heads of max|R(x)^T R(y) - R(y - x)|.

    Args:
        enc: an encoding from ``rope_blocks.build``.
        num_samples, seed, extent: draw x and y uniformly in [-extent, extent]^n_axes
            (the default spans the offsets of a 32 x 32 grid).
        positions: explicit (x, y) pairs, each (S, n_axes); overrides the sampling.
    """
    if positions is None:
        x = sample_positions(enc.n_axes, num_samples, seed, extent)
        y = sample_positions(enc.n_axes, num_samples, seed + 1, extent)
    else:
        x, y = (torch.as_tensor(p, dtype=torch.float64) for p in positions)
        if x.shape != y.shape:
            raise ValueError(
                f"positions must be two tensors of the same shape (S, n_axes); got {tuple(x.shape)} "
                f"and {tuple(y.shape)}."
            )
    rx, ry, rd = enc.rotation(x), enc.rotation(y), enc.rotation(y - x)
    return (rx.transpose(-1, -2) @ ry - rd).abs().amax().item()


@torch.no_grad()
def orthogonality_error(enc: RotaryEncoding, num_samples: int = 64, seed: int = 0, extent: float = 16.0) -> float:
    """max|R^T R - I| plus max|det R - 1| over sampled positions: 0 for a rotation."""
    r = enc.rotation(sample_positions(enc.n_axes, num_samples, seed, extent))
    eye = torch.eye(enc.head_dim, dtype=r.dtype)
    gram = (r.transpose(-1, -2) @ r - eye).abs().amax().item()
    return gram + (torch.linalg.det(r) - 1).abs().amax().item()


@torch.no_grad()
def fast_vs_dense_error(
    enc: RotaryEncoding, num_tokens: int = 16, batch: int = 2, seed: int = 0, extent: float = 16.0
) -> float:
    """max|fast path - dense reference| for float32 q and k with entries uniform in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, enc.num_heads, num_tokens, enc.head_dim)
    q = torch.rand(shape, generator=g) * 2 - 1
    k = torch.rand(shape, generator=g) * 2 - 1
    pos = sample_positions(enc.n_axes, num_tokens, seed, extent)
    q2, k2 = enc(q, k, pos.float())
    r = enc.rotation(pos)
    ref_q = torch.einsum("hnij,zhnj->zhni", r, q.double())
    ref_k = torch.einsum("hnij,zhnj->zhni", r, k.double())
    return max((q2.double() - ref_q).abs().max().item(), (k2.double() - ref_k).abs().max().item())
