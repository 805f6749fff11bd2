"""rope-blocks: rotary position encodings with rotation blocks of any size.

>>> import torch, rope_blocks as rb
>>> enc = rb.build("commuting", head_dim=32, num_heads=4, n_axes=2, block_size=4)
>>> q = k = torch.randn(2, 4, 64, 32)                      # (B, H, N, D)
>>> pos = torch.cartesian_prod(torch.arange(8.), torch.arange(8.))  # (N, 2) grid
>>> q2, k2 = enc(q, k, pos)
>>> enc.relative, rb.relative_error(enc) < 1e-10
(True, True)
"""
from .base import RotaryEncoding
from .basis import stiefel_parameters
from .liere import LieRE
from .metrics import fast_vs_dense_error, orthogonality_error, relative_error
from .none import NoRoPE
from .planar import AxialRoPE, CommutingRoPE, GivensRoPE, MixedRoPE
from .registry import FAMILIES, build, encodings, family_options
from .weighted import WeightedRoPE

__all__ = [
    "FAMILIES", "build", "family_options", "encodings", "relative_error", "orthogonality_error",
    "fast_vs_dense_error", "stiefel_parameters", "RotaryEncoding", "NoRoPE", "AxialRoPE", "MixedRoPE",
    "GivensRoPE", "WeightedRoPE", "CommutingRoPE", "LieRE",
]
