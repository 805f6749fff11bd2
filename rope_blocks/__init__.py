"""rope-blocks: rotary position encodings with rotation blocks of any size.

>>> import torch, rope_blocks as rb
>>> enc = rb.build("commuting", head_dim=32, num_heads=4, n_axes=2, block_size=4)
>>> q = k = torch.randn(2, 4, 65, 32)                      # (B, H, N, D): a class token, then 64 patches
>>> pos = torch.cartesian_prod(torch.arange(8.), torch.arange(8.))  # (N - 1, 2) grid
>>> q2, k2 = enc(q, k, pos, num_prefix_tokens=1)
>>> enc.relative, rb.relative_error(enc) < 1e-10
(True, True)
"""

# The family modules register themselves (rope_blocks.registry.register) as they are imported here, in the
# order `rope-blocks check` lists them: from no rotation, through RoPE and the commuting k x k designs, to
# the non-relative seed designs.
from .base import RotaryEncoding
from .none import NoRoPE
from .planar import AxialRoPE, CommutingRoPE, GivensRoPE, MixedRoPE
from .weighted import WeightedRoPE
from .liere import LieRE
from .basis import stiefel_parameters
from .positions import grid_positions
from .metrics import fast_vs_dense_error, orthogonality_error, relative_error
from .registry import build, default_block_size, encodings, families, family_class, family_options, register

__all__ = [
    "AxialRoPE",
    "CommutingRoPE",
    "GivensRoPE",
    "LieRE",
    "MixedRoPE",
    "NoRoPE",
    "RotaryEncoding",
    "WeightedRoPE",
    "build",
    "default_block_size",
    "encodings",
    "families",
    "family_class",
    "family_options",
    "fast_vs_dense_error",
    "grid_positions",
    "orthogonality_error",
    "register",
    "relative_error",
    "stiefel_parameters",
]
