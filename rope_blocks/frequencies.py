"""Plane frequencies: how each rotation plane's angle depends on the position.

The angle of plane i in block b is phi = sum_a pos_a * omega[b, i, a]. Two designs:

* axial: block b follows one axis, a(b) = floor(b * n_axes / num_blocks), so the blocks are
  cut into n_axes contiguous groups (RoPE-Axial; the seed's "first half x, second half y").
* mixed: every plane follows all axes. Initialised as RoPE-Mixed does: the axial
  magnitudes along the columns of a random rotation of R^n_axes drawn per head.

Within an axis group of P planes the magnitudes are base^(-j / P), j = 0..P-1; for 2x2 blocks
this is RoPE's base^(-2j / w) over the group's w = 2P dims, and for the seed's k x k Givens
blocks its theta_b = base^(-k b / w).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import _check_positive

DESIGNS = ("axial", "mixed")


def block_axes(num_blocks: int, n_axes: int) -> torch.Tensor:
    """(num_blocks,) the axis each block follows in the axial design."""
    return torch.arange(num_blocks) * n_axes // num_blocks


def axial_magnitudes(num_blocks: int, planes_per_block: int, n_axes: int, base: float) -> torch.Tensor:
    """(num_blocks, planes_per_block) magnitudes base^(-j / P) within each axis group."""
    axes = block_axes(num_blocks, n_axes).repeat_interleave(planes_per_block)
    mags = torch.empty(num_blocks * planes_per_block, dtype=torch.float64)
    for a in range(n_axes):
        group = (axes == a).nonzero().squeeze(1)
        mags[group] = base ** (-torch.arange(len(group), dtype=torch.float64) / len(group))
    return mags.view(num_blocks, planes_per_block)


def random_rotation(n: int, *batch: int, dtype=torch.float64) -> torch.Tensor:
    """(*batch, n, n) Haar-random rotations (det +1), from torch's default generator."""
    return orthogonal_from_qr(torch.randn(*batch, n, n, dtype=dtype))


def orthogonal_from_qr(a: torch.Tensor) -> torch.Tensor:
    """(..., n, n) -> the Q of a = QR with r's diagonal made non-negative, then det +1 (column 0 flipped).

    sign(0) would zero a column: a zero on r's diagonal (a singular a) keeps its column as it is.
    """
    q, r = torch.linalg.qr(a)
    q = q * torch.where(torch.diagonal(r, dim1=-2, dim2=-1) < 0, -1.0, 1.0).to(a.dtype).unsqueeze(-2)
    flip = torch.linalg.det(q) < 0
    q[..., :, 0] = torch.where(flip.unsqueeze(-1), -q[..., :, 0], q[..., :, 0])
    return q


class Frequencies(nn.Module):
    """omega: (H or 1, num_blocks, planes_per_block, n_axes), fixed (buffer) or learned."""

    def __init__(
        self,
        num_heads: int,
        num_blocks: int,
        planes_per_block: int,
        n_axes: int,
        *,
        design: str,
        base: float,
        learned: bool,
        per_head: bool,
    ):
        super().__init__()
        self.design = design
        heads = num_heads if per_head else 1
        base = _check_positive("base", base, " (the frequency base, e.g. 100)")
        mags = axial_magnitudes(num_blocks, planes_per_block, n_axes, base)
        onehot = nn.functional.one_hot(block_axes(num_blocks, n_axes), n_axes).to(torch.float64)
        if design == "axial":
            # Learn only the magnitudes: the axis pattern is what makes the design axial.
            values = mags.expand(heads, -1, -1)
            self.register_buffer("axis_onehot", onehot.float(), persistent=False)
        else:
            frames = random_rotation(n_axes, heads)  # (heads, n, n): column a is the direction of group a
            directions = torch.einsum("ba,hca->hbc", onehot, frames)  # (heads, nb, n)
            values = mags.unsqueeze(0).unsqueeze(-1) * directions.unsqueeze(2)
        values = values.float().clone()
        if learned:
            self.freqs = nn.Parameter(values)
        else:
            self.register_buffer("freqs", values)

    def forward(self) -> torch.Tensor:
        if self.design == "axial":
            return self.freqs.unsqueeze(-1) * self.axis_onehot.unsqueeze(1)
        return self.freqs

    def angles(self, pos: torch.Tensor) -> torch.Tensor:
        """pos (N, n_axes) -> angles (H or 1, N, num_blocks, planes_per_block), in pos's dtype."""
        return torch.einsum("na,hbpa->hnbp", pos, self().to(pos.dtype))
