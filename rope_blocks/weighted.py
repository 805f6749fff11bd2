"""The seed's "weighted" blocks: the mean of the Givens rotations of all planes of a block.

A(phi) = (1/P) sum_{m<n} G_mn(phi), P = k(k-1)/2, one angle per block laid out as the seed's
Givens design. Since sum_{m<n} J_mn^2 = -(k-1) I, the mean has the closed form

    A(phi) = (1 - 2 (1 - cos phi) / k) I + (2 sin phi / (k (k-1))) S,   S = sum_{m<n} J_mn,

with (S x)_i = sum_{j<i} x_j - sum_{j>i} x_j, a cumulative sum: the fast path. A is a rotation
only for k = 2; for k >= 3 it shrinks vectors and the encoding is not relative (theory T7).
"""

from __future__ import annotations

import torch

from .base import RotaryEncoding
from .frequencies import Frequencies
from .registry import register


@register
class WeightedRoPE(RotaryEncoding):
    """The seed's mean-of-Givens k x k block. Not orthogonal and not relative for k >= 3."""

    family = "weighted"
    tiling_blocks = 2
    always_orthogonal = False

    def __init__(self, head_dim: int, num_heads: int, n_axes: int = 2, block_size: int = 3, *, base: float = 100.0):
        super().__init__(head_dim, num_heads, n_axes, block_size)
        if self.num_blocks < n_axes:
            raise ValueError(
                f"each of the n_axes={n_axes} axes needs its own block, but head_dim={head_dim} holds only "
                f"{self.num_blocks} block(s) of {block_size} dims; use head_dim >= {block_size * n_axes}."
            )
        self.freqs = Frequencies(
            num_heads, self.num_blocks, 1, n_axes, design="axial", base=base, learned=False, per_head=False
        )

    @classmethod
    def is_relative(cls, block_size: int, n_axes: int) -> bool:
        return block_size == 2

    @property
    def rotated_dims(self) -> int:
        return self.block_dims

    def _coefficients(self, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.block_size
        return 1 - 2 * (1 - torch.cos(phi)) / k, 2 * torch.sin(phi) / (k * (k - 1))

    def _context(self, pos):
        return self._coefficients(self.freqs.angles(pos))  # each (1, N, nb, 1)

    def _rotate_blocks(self, xb, ctx):
        a, c = ctx
        prefix = torch.cumsum(xb, dim=-1)
        sx = 2 * prefix - xb - prefix[..., -1:]
        return a * xb + c * sx

    def _block_rotations(self, pos):
        # The seed's definition, term by term: the mean of the explicit Givens matrices.
        phi = self.freqs.angles(pos)[..., 0]  # (1, N, nb)
        k = self.block_size
        cos, sin = torch.cos(phi), torch.sin(phi)
        total = torch.zeros(*phi.shape, k, k, dtype=phi.dtype, device=phi.device)
        planes = [(m, n) for m in range(k) for n in range(m + 1, k)]
        for m, n in planes:
            g = torch.eye(k, dtype=phi.dtype, device=phi.device).expand_as(total).clone()
            g[..., m, m] = cos
            g[..., n, n] = cos
            g[..., n, m] = sin
            g[..., m, n] = -sin
            total = total + g
        return total / len(planes)
