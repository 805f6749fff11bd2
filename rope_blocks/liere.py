"""LieRE (Ostmeier et al., ICML 2025): free learned skew-symmetric k x k generators per axis and block.

R_b(p) = exp(sum_a p_a A_ab). The generators of different axes need not commute, so the
encoding is relative only when k = 2 (so(2) is abelian) or n_axes = 1 (one generator per
block); otherwise its error starts at -(x_i y_j / 2)[A_i, A_j] (theory T9).

Fast path: torch.matrix_exp in float32 once per token position (positions are shared by the
batch, so never per batch element), then a k x k product per block; never a D x D product.
Initialisation as LieRE: upper-triangle entries uniform in [0, 2 pi) (times ``init_scale``),
for positions normalised to [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import RotaryEncoding, _check_bool, _check_positive
from .registry import register


@register
class LieRE(RotaryEncoding):
    """k x k blocks of learned skew generators, rotation by matrix exponential.

    Args:
        per_head: separate generators per head (True) or one set shared by all heads.
        init_scale: the generators' entries start uniform in [0, 2 pi * init_scale).
    """

    family = "liere"
    unit_positions = True

    def __init__(
        self,
        head_dim: int,
        num_heads: int,
        n_axes: int = 2,
        block_size: int = 4,
        *,
        per_head: bool = True,
        init_scale: float = 1.0,
    ):
        super().__init__(head_dim, num_heads, n_axes, block_size)
        init_scale = _check_positive("init_scale", init_scale)
        k = block_size
        heads = num_heads if _check_bool("per_head", per_head) else 1
        rows, cols = torch.triu_indices(k, k, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.generator_params = nn.Parameter(
            torch.rand(heads, n_axes, self.num_blocks, len(rows)) * (2 * math.pi * init_scale)
        )

    @classmethod
    def is_relative(cls, block_size: int, n_axes: int) -> bool:
        return block_size == 2 or n_axes == 1

    @property
    def rotated_dims(self) -> int:
        return self.block_dims

    def _skew(self, dtype: torch.dtype) -> torch.Tensor:
        """(H or 1, n_axes, nb, k, k) skew-symmetric generators: U - U^T."""
        k = self.block_size
        values = self.generator_params.to(dtype)
        upper = values.new_zeros(*values.shape[:-1], k, k)
        upper[..., self.rows, self.cols] = values
        return upper - upper.transpose(-1, -2)

    def _block_rotations(self, pos):
        exponent = torch.einsum("na,habkl->hnbkl", pos, self._skew(pos.dtype)).contiguous()
        return torch.linalg.matrix_exp(exponent)  # (H or 1, N, nb, k, k)

    def _context(self, pos):
        return self._block_rotations(pos)

    def _rotate_blocks(self, xb, rot):
        return torch.einsum("hnbkl,zhnbl->zhnbk", rot, xb)

    def _block_generators(self, dtype):
        return self._skew(dtype)
