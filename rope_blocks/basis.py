"""The orthogonal basis Q of each k x k block, in which the block's planes rotate.

A block rotates its input x as Q diag(2x2 rotations, 1) Q^T x; the fast path maps into the
basis (y = Q^T x), rotates the planes of y and maps back. Kinds:

* ``fixed``: Q = I, no product at all.
* a permutation (the seed's Givens blocks): an index gather instead of a product.
* ``stiefel``: a geoopt ManifoldParameter on the Stiefel manifold; train it with geoopt's
  RiemannianAdam, which keeps it orthogonal (a Euclidean optimizer would drift off it).
* ``cayley`` / ``matrix_exp``: torch.nn.utils.parametrizations.orthogonal without
  trivialization, Q = map(skew part of a free matrix): orthogonal by construction under any
  optimizer, and exactly orthogonal when the map is evaluated in float64 (the reference path).

Learned bases start at a random rotation with det +1 (Haar for stiefel; the map of a standard
normal matrix for cayley and matrix_exp), or at I with ``init="identity"``.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from .frequencies import random_rotation

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # geoopt still calls torch.jit.script at import
    import geoopt

LEARNED_BASES = ("stiefel", "cayley", "matrix_exp")
BASES = ("fixed",) + LEARNED_BASES
BASIS_INITS = ("random", "identity")


class Basis(nn.Module):
    """Q: (H or 1, num_blocks, k, k). ``matrix()`` is None for the identity."""

    def __init__(
        self,
        heads: int,
        num_blocks: int,
        k: int,
        *,
        kind: str = "fixed",
        init: str = "random",
        permutation: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.kind = "permutation" if permutation is not None else kind
        self.k = k
        if self.kind == "permutation":
            perm = torch.tensor(permutation)
            self.register_buffer("perm", perm, persistent=False)
            self.register_buffer("inverse_perm", torch.argsort(perm), persistent=False)
            return
        if self.kind == "fixed":
            return
        eye = torch.eye(k).expand(heads, num_blocks, k, k)
        if self.kind == "stiefel":
            start = eye if init == "identity" else random_rotation(k, heads, num_blocks)
            self.weight = geoopt.ManifoldParameter(start.float().clone(), manifold=geoopt.EuclideanStiefel())
            return
        self.weight = nn.Parameter(eye.clone())
        orthogonal(self, "weight", orthogonal_map=self.kind, use_trivialization=False)
        if init == "random":
            with torch.no_grad():
                self.parametrizations.weight.original.normal_()

    def matrix(self, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
        """(H or 1, num_blocks, k, k) Q, or None when Q = I."""
        if self.kind == "fixed":
            return None
        if self.kind == "permutation":
            return torch.eye(self.k, dtype=dtype, device=self.perm.device)[:, self.perm].expand(1, 1, -1, -1)
        if self.kind == "stiefel":
            return self.weight.to(dtype)
        # Evaluate the map in the requested dtype, so a float64 reference is orthogonal to 1e-16.
        parametrization = self.parametrizations.weight
        return parametrization[0](parametrization.original.to(dtype))

    def operator(self, q: torch.Tensor | None) -> torch.Tensor | None:
        """(H or 1, nb * k, nb * k): the blocks of ``q = matrix()`` on one block diagonal.

        The fast path applies Q to all blocks of a token in one product: a single well-shaped
        matrix product per head beats nb tiny ones and the copies that batching them needs.
        """
        if q is None or self.kind == "permutation":
            return None
        eye = torch.eye(q.shape[-3], dtype=q.dtype, device=q.device)
        return torch.einsum("hbkl,bc->hbkcl", q, eye).flatten(1, 2).flatten(-2)

    def to_planes(self, xb: torch.Tensor, op: torch.Tensor | None) -> torch.Tensor:
        """(..., H, N, nb, k) x -> Q^T x, with op = self.operator(...) computed once per forward."""
        if self.kind == "permutation":
            return xb.index_select(-1, self.perm)
        if op is None:
            return xb
        return (xb.flatten(-2) @ op).unflatten(-1, xb.shape[-2:])

    def rows_to_planes(self, wb: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
        """(H, nb, k, M) rows of a projection weight, k per block -> Q^T W per block (fold_weight).

        Block by block, not through ``operator``: a weight is one product per step, not one per
        token, and the dense block-diagonal operator would spend nb times the flops on zeros.
        """
        if self.kind == "permutation":
            return wb.index_select(-2, self.perm)
        if q is None:
            return wb
        return q.transpose(-1, -2) @ wb

    def from_planes(self, yb: torch.Tensor, op: torch.Tensor | None) -> torch.Tensor:
        """Q y, the inverse of ``to_planes``."""
        if self.kind == "permutation":
            return yb.index_select(-1, self.inverse_perm)
        if op is None:
            return yb
        return (yb.flatten(-2) @ op.transpose(-1, -2)).unflatten(-1, yb.shape[-2:])


def stiefel_parameters(module: nn.Module):
    """The geoopt ManifoldParameters in ``module``: give them to geoopt.optim.RiemannianAdam."""
    return [p for p in module.parameters() if isinstance(p, geoopt.ManifoldParameter)]
