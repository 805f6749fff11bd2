"""The `none` family: no rotation (the ViT then adds a learned absolute position embedding)."""

from __future__ import annotations

import torch

from .base import RotaryEncoding
from .registry import register


@register
class NoRoPE(RotaryEncoding):
    """Identity: q and k come back unchanged. Trivially relative, and blind to position."""

    family = "none"
    block_sizes = (2,)  # no rotation blocks at all
    rotates = False
    tiling_blocks = 2

    def __init__(self, head_dim: int, num_heads: int, n_axes: int = 2, block_size: int = 2):
        if block_size != 2:
            raise ValueError(f"the 'none' family has no rotation blocks; leave block_size at 2, got {block_size!r}.")
        super().__init__(head_dim, num_heads, n_axes, block_size)

    @classmethod
    def is_relative(cls, block_size: int, n_axes: int) -> bool:
        return True

    @property
    def rotated_dims(self) -> int:
        return 0

    def _context(self, pos):
        return None

    def _rotate_blocks(self, xb, ctx):
        return xb

    def _block_rotations(self, pos):
        k = self.block_size
        return torch.eye(k, dtype=pos.dtype, device=pos.device).expand(1, pos.shape[0], self.num_blocks, k, k)

    def _block_generators(self, dtype):
        k = self.block_size
        return torch.zeros(1, self.n_axes, self.num_blocks, k, k, dtype=dtype, device=self._device())
