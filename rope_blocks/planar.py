"""Families with commuting generators: rotation planes inside k x k blocks.

Every block b rotates its planes i = 0..p-1 by angles phi_bi(pos) = pos . omega_bi in a basis
Q_b, so its generators A_a = Q_b diag(omega_bia J) Q_b^T commute and the encoding is
relative (theory T1, T4). The families differ only in k, the number of planes p, the basis
and the frequencies:

========== ===== ================ ============================= ==================
family     k     planes per block basis Q                       frequencies
========== ===== ================ ============================= ==================
axial      2     1                I                             fixed, axial
mixed      2     1                I                             learned, mixed
givens     any   1 (plane (m,n))  permutation moving (m,n) first fixed, axial
commuting  any   floor(k/2)       fixed or learned SO(k)        fixed or learned
========== ===== ================ ============================= ==================

The fast path never forms a per-token matrix: y = Q^T x (a k x k map per block, applied to all
blocks at once as one block-diagonal product per head; none when Q = I), rotate pairs of y by
cos/sin, x' = Q y. The dense reference builds Q diag(R(phi)) Q^T. In dot-product attention Q^T
can instead be folded into the query and key projections (``fold_weight``, ``folded=True``):
then only the planes rotate per token, and Q costs one small product per weight.
"""

from __future__ import annotations

import torch

from .base import RotaryEncoding, _check_bool, _check_choice, _check_int
from .basis import BASES, BASIS_INITS, Basis
from .frequencies import DESIGNS, Frequencies
from .registry import register

FREQS = ("fixed", "learned")


def plane_blocks(diag: float, a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """(..., p) -> (..., k, k): [[a, -b], [b, a]] on the pairs (2i, 2i+1), ``diag`` elsewhere.

    With (a, b) = (cos, sin) and diag 1 it is a rotation; with (0, omega) and diag 0 its generator.
    """
    p = a.shape[-1]
    out = torch.zeros(*a.shape[:-1], k, k, dtype=a.dtype, device=a.device)
    idx = torch.arange(2 * p, k, device=a.device)
    out[..., idx, idx] = diag
    for i in range(p):
        j = 2 * i
        out[..., j, j] = a[..., i]
        out[..., j + 1, j + 1] = a[..., i]
        out[..., j + 1, j] = b[..., i]
        out[..., j, j + 1] = -b[..., i]
    return out


class PlanarRotation(RotaryEncoding):
    """Shared engine of the commuting families (see the module docstring)."""

    has_plane_basis = True

    def __init__(
        self,
        head_dim: int,
        num_heads: int,
        n_axes: int,
        block_size: int,
        *,
        planes_per_block: int,
        design: str,
        base: float,
        learned_freqs: bool,
        per_head: bool,
        basis: str = "fixed",
        basis_init: str = "random",
        permutation: tuple[int, ...] | None = None,
    ):
        super().__init__(head_dim, num_heads, n_axes, block_size)
        if design == "axial" and self.num_blocks < n_axes:
            raise ValueError(
                f"the axial design gives each of the n_axes={n_axes} axes its own blocks, but head_dim={head_dim} "
                f"holds only {self.num_blocks} block(s) of {block_size} dims; use head_dim >= {block_size * n_axes}, "
                "a smaller block_size, or design='mixed'."
            )
        self.planes_per_block = planes_per_block
        self.freqs = Frequencies(
            num_heads,
            self.num_blocks,
            planes_per_block,
            n_axes,
            design=design,
            base=base,
            learned=learned_freqs,
            per_head=_check_bool("per_head", per_head),
        )
        self.basis = Basis(
            num_heads if per_head else 1,
            self.num_blocks,
            block_size,
            kind=basis,
            init=basis_init,
            permutation=permutation,
        )

    @classmethod
    def is_relative(cls, block_size: int, n_axes: int) -> bool:
        return True

    @property
    def rotated_dims(self) -> int:
        return 2 * self.planes_per_block * self.num_blocks

    def _context(self, pos):
        return (*self._plane_context(pos), self.basis.operator(self.basis.matrix(pos.dtype)))

    def _plane_context(self, pos):
        phi = self.freqs.angles(pos)
        return torch.cos(phi), torch.sin(phi)

    def _rotate_blocks_for_logits(self, xb, ctx):
        """P(phi) Q^T x: the rotation seen in the plane basis, without the map back."""
        return self._rotate_planes(self.basis.to_planes(xb, ctx[2]), ctx)

    def _rotate_planes(self, y, ctx):
        """P(phi) y for y already in the plane basis: the pairs (2i, 2i+1) of each block turn."""
        cos, sin = ctx[:2]
        pairs = 2 * self.planes_per_block
        if not (cos.requires_grad or sin.requires_grad):
            return self._rotate_planes_fixed(y, cos, sin)
        y0, y1 = y[..., :pairs].unflatten(-1, (self.planes_per_block, 2)).unbind(-1)
        turned = torch.stack((y0 * cos - y1 * sin, y0 * sin + y1 * cos), dim=-1).flatten(-2)
        if pairs < self.block_size:
            turned = torch.cat((turned, y[..., pairs:]), dim=-1)
        return turned

    def _rotate_planes_fixed(self, y, cos, sin):
        """``_rotate_planes`` when no gradient flows into the angles (fixed frequencies, or no grad at all).

        y * (c, c) + (y1, y0) * (-s, s) per pair: every element is the same product or sum of two products
        as in ``_rotate_planes`` (a + (-b) is a - b, and a sum of two terms does not depend on their order),
        and so is every gradient into y, but two products and a sum on whole heads with unit stride replace
        four products, two sums and a stack on strided halves (about 15-20% less time for q and k, forward
        and backward, on one CPU core). With learned frequencies ``_rotate_planes`` runs: its gradients
        into the angles add up four terms in autograd's order, which this would change.
        """
        p, pairs = self.planes_per_block, 2 * self.planes_per_block
        c2 = torch.stack((cos, cos), dim=-1).flatten(-2)  # (H or 1, N, nb, 2p): small tables
        s2 = torch.stack((-sin, sin), dim=-1).flatten(-2)
        yp = y[..., :pairs]
        y0, y1 = yp.unflatten(-1, (p, 2)).unbind(-1)
        swapped = torch.stack((y1, y0), dim=-1).flatten(-2)
        if pairs == self.block_size:  # the planes fill every block: whole heads, (B, H, N, nb * k)
            turned = yp.flatten(-2) * c2.flatten(-2) + swapped.flatten(-2) * s2.flatten(-2)
            return turned.unflatten(-1, (self.num_blocks, self.block_size))
        return torch.cat((yp * c2 + swapped * s2, y[..., pairs:]), dim=-1)

    def _rotate_blocks(self, xb, ctx):
        return self.basis.from_planes(self._rotate_blocks_for_logits(xb, ctx), ctx[2])

    def fold_weight(self, w: torch.Tensor) -> torch.Tensor:
        """W -> blockdiag(Q)^T W per head: a query or key projection folded into the plane basis.

        q = (fold_weight(W_q) x) meets ``forward(..., folded=True)`` with the logits of
        ``for_logits=True`` on W_q x (theory T5), but Q costs one small product per weight instead
        of a k x k map per token. Differentiable in W and in Q, so a learned basis keeps training.

        Args:
            w: (H * D, ...) the query (or key) rows of a projection weight or bias, head h in rows
                h * D .. (h + 1) * D - 1 (the layout of q.view(B, N, H, D)).
        Returns:
            (H * D, ...) in w's dtype; rows past the last block of each head are left as they are.
        """
        if not isinstance(w, torch.Tensor) or w.dim() == 0 or w.shape[0] != self.num_heads * self.head_dim:
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(
                f"fold_weight takes the {self.num_heads * self.head_dim} = num_heads x head_dim query or key rows "
                f"of a projection (head-major), got {shape}; pass e.g. the first third of a fused qkv weight."
            )
        if self.basis.kind == "fixed":
            return w
        wh = w.reshape(self.num_heads, self.head_dim, -1)  # (H, D, M)
        whole = self.block_dims == self.head_dim  # then no slice: its backward would copy the whole weight
        work = torch.promote_types(w.dtype, torch.float32)
        with torch.autocast(device_type=w.device.type, enabled=False):
            rows = (wh if whole else wh[:, : self.block_dims]).to(work).unflatten(1, (self.num_blocks, self.block_size))
            folded = self.basis.rows_to_planes(rows, self.basis.matrix(work)).flatten(1, 2).to(w.dtype)
        return (folded if whole else torch.cat((folded, wh[:, self.block_dims :]), dim=1)).reshape(w.shape)

    def _in_basis(self, blocks: torch.Tensor) -> torch.Tensor:
        """Q M Q^T for blocks M of shape (H or 1, X, nb, k, k)."""
        q = self.basis.matrix(blocks.dtype)
        if q is None:
            return blocks
        q = q.unsqueeze(1)
        return q @ blocks @ q.transpose(-1, -2)

    def _block_rotations(self, pos):
        phi = self.freqs.angles(pos)
        return self._in_basis(plane_blocks(1.0, torch.cos(phi), torch.sin(phi), self.block_size))

    def _block_generators(self, dtype):
        omega = self.freqs().to(dtype).movedim(-1, 1)  # (H or 1, n_axes, nb, p)
        return self._in_basis(plane_blocks(0.0, torch.zeros_like(omega), omega, self.block_size))


@register
class AxialRoPE(PlanarRotation):
    """RoPE-Axial: 2x2 blocks, fixed frequencies, head dims split across the axes.

    With n_axes=1 it is 1D RoPE on the token index (e.g. the raster index of a patch grid).
    """

    family = "axial"
    block_sizes = (2,)
    tiling_blocks = 2

    def __init__(self, head_dim: int, num_heads: int, n_axes: int = 2, block_size: int = 2, *, base: float = 100.0):
        super().__init__(
            head_dim,
            num_heads,
            n_axes,
            block_size,
            planes_per_block=1,
            design="axial",
            base=base,
            learned_freqs=False,
            per_head=False,
        )


@register
class MixedRoPE(PlanarRotation):
    """RoPE-Mixed: 2x2 blocks, learned frequencies, every plane's angle a linear function of all axes."""

    family = "mixed"
    block_sizes = (2,)
    tiling_blocks = 2

    def __init__(
        self,
        head_dim: int,
        num_heads: int,
        n_axes: int = 2,
        block_size: int = 2,
        *,
        base: float = 10.0,
        per_head: bool = True,
    ):
        super().__init__(
            head_dim,
            num_heads,
            n_axes,
            block_size,
            planes_per_block=1,
            design="mixed",
            base=base,
            learned_freqs=True,
            per_head=per_head,
        )


@register
class GivensRoPE(PlanarRotation):
    """The seed's k x k Givens block: only the plane (m, n) of each block rotates.

    Relative (its generators theta_b J_mn commute), but it rotates 2 of every k dims.
    """

    family = "givens"
    tiling_blocks = 2

    def __init__(
        self,
        head_dim: int,
        num_heads: int,
        n_axes: int = 2,
        block_size: int = 3,
        *,
        plane: tuple[int, int] = (0, 1),
        base: float = 100.0,
    ):
        m, n = _check_plane(plane, block_size)
        order = (m, n) + tuple(i for i in range(block_size) if i not in (m, n))
        super().__init__(
            head_dim,
            num_heads,
            n_axes,
            block_size,
            planes_per_block=1,
            design="axial",
            base=base,
            learned_freqs=False,
            per_head=False,
            permutation=order,
        )


@register
class CommutingRoPE(PlanarRotation):
    """k x k blocks with floor(k/2) commuting rotation planes in an orthogonal basis Q per block.

    Args:
        design: "axial" (each block follows one axis) or "mixed" (every plane follows all axes).
        basis: "fixed" (Q = I), "stiefel" (geoopt; train with RiemannianAdam), "cayley" or "matrix_exp".
        freqs: "fixed" or "learned"; default fixed for the axial design, learned for mixed
            (as RoPE-Axial and RoPE-Mixed).
        base: frequency base; default 100 for axial, 10 for mixed.
        per_head: separate basis and frequencies per head (True) or one set shared by all heads.
        basis_init: learned bases start at a random rotation ("random") or at I ("identity").
    """

    family = "commuting"
    designs = DESIGNS

    def __init__(
        self,
        head_dim: int,
        num_heads: int,
        n_axes: int = 2,
        block_size: int = 4,
        *,
        design: str = "axial",
        basis: str = "cayley",
        freqs: str | None = None,
        base: float | None = None,
        per_head: bool = True,
        basis_init: str = "random",
    ):
        _check_choice("design", design, DESIGNS)
        _check_choice("basis", basis, BASES)
        _check_choice("basis_init", basis_init, BASIS_INITS)
        freqs = freqs if freqs is not None else ("fixed" if design == "axial" else "learned")
        _check_choice("freqs", freqs, FREQS)
        base = base if base is not None else (100.0 if design == "axial" else 10.0)
        _check_int("block_size", block_size, 2)
        super().__init__(
            head_dim,
            num_heads,
            n_axes,
            block_size,
            planes_per_block=block_size // 2,
            design=design,
            base=base,
            learned_freqs=freqs == "learned",
            per_head=per_head,
            basis=basis,
            basis_init=basis_init,
        )


def _check_plane(plane, block_size) -> tuple[int, int]:
    _check_int("block_size", block_size, 2)
    ok = (
        isinstance(plane, (tuple, list))
        and len(plane) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) for i in plane)
    )
    if not ok or not 0 <= plane[0] < plane[1] < block_size:
        raise ValueError(
            f"plane={plane!r} is not a plane of a {block_size}x{block_size} block; "
            f"pass two dims (m, n) with 0 <= m < n < {block_size}, e.g. plane=(0, 1)."
        )
    return int(plane[0]), int(plane[1])
