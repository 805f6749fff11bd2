"""The interface every encoding family implements, and the input checks they share.

An encoding rotates queries and keys by R(p) = blockdiag_b R_b(p), one k x k block per
group of k head dims; head dims past the last whole block pass through unrotated.
Subclasses supply the per-block maths three ways:

* ``_context(pos)`` + ``_rotate_blocks(xb, ctx)``: the fast path used in training,
* ``_block_rotations(pos)``: the dense k x k blocks, computed independently (reference path),
* ``_block_generators(dtype)``: the skew-symmetric generators, for families defined by them.
"""

from __future__ import annotations

import torch
from torch import nn


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}.")


def _check_positive(name: str, value, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive finite number{what}, got {value!r}.")
    return float(value)


def embed_blocks(blocks: torch.Tensor, dim: int, fill: float) -> torch.Tensor:
    """(..., nb, k, k) blocks -> (..., dim, dim) block-diagonal matrix.

    Dims past the last block get ``fill`` on the diagonal: 1 for rotations (they pass
    through), 0 for generators.
    """
    *lead, nb, k, _ = blocks.shape
    out = blocks.new_zeros(*lead, dim, dim)
    for b in range(nb):
        out[..., b * k : (b + 1) * k, b * k : (b + 1) * k] = blocks[..., b, :, :]
    rest = torch.arange(nb * k, dim, device=blocks.device)
    out[..., rest, rest] = fill
    return out


def reference_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64 (for exact references); anything else computes in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class RotaryEncoding(nn.Module):
    """Base class: checks inputs, runs the fast path in float32 and assembles dense matrices.

    Args:
        head_dim: D, the per-head width of q and k.
        num_heads: H.
        n_axes: number of position coordinates (1 token index, 2 image grid, 3 video/volume).
        block_size: k, the size of the rotation blocks.
    """

    # The family's facts, read by the registry, `rope-blocks check`, the model zoo and the benchmarks.
    family: str = ""
    block_sizes: tuple[int, ...] | None = None  # the only block sizes it takes (None: any k >= 2)
    designs: tuple[str, ...] = ()  # values of its `design` option, each checked on its own row
    tiling_blocks: int = 1  # a head holds a multiple of tiling_blocks * k dims (2: the seed's half per axis)
    unit_positions: bool = False  # designed for positions in [0, 1] (LieRE) rather than grid coordinates
    always_orthogonal: bool = True  # False: some block sizes give matrices that are not rotations
    has_plane_basis: bool = False  # 2x2 RoPE in a basis Q that folds into W_q, W_k (fold_weight, folded=True)
    rotates: bool = True  # False: the identity, for models that encode position otherwise

    def __init__(self, head_dim: int, num_heads: int, n_axes: int, block_size: int):
        super().__init__()
        self.head_dim = _check_int("head_dim", head_dim, 1)
        self.num_heads = _check_int("num_heads", num_heads, 1)
        self.n_axes = _check_int("n_axes", n_axes, 1)
        self.block_size = _check_int("block_size", block_size, 2)
        if self.block_sizes is not None and block_size not in self.block_sizes:
            sizes = " or ".join(f"{k}x{k}" for k in self.block_sizes)
            raise ValueError(
                f"the '{self.family}' family uses {sizes} blocks only, got block_size={block_size}; "
                "use family='commuting' (or 'givens', 'liere') for k x k blocks."
            )
        if block_size > head_dim:
            raise ValueError(
                f"block_size={block_size} is larger than head_dim={head_dim}; "
                f"use a block_size between 2 and {head_dim} (block_size={head_dim} rotates the whole head)."
            )
        self.num_blocks = head_dim // block_size
        # Head dims covered by blocks; the remaining head_dim - block_dims pass through.
        self.block_dims = self.num_blocks * block_size

    # ------------------------------------------------------------------ what subclasses define
    @classmethod
    def is_relative(cls, block_size: int, n_axes: int) -> bool:
        """What the theory says: does R(x)^T R(y) = R(y - x) hold for this family at k, n_axes?"""
        raise NotImplementedError

    @property
    def relative(self) -> bool:
        """What the theory says of this configuration (``is_relative`` at its k and n_axes)."""
        return self.is_relative(self.block_size, self.n_axes)

    @property
    def rotated_dims(self) -> int:
        """How many head dims the rotation can move (the rest are left as they are)."""
        raise NotImplementedError

    def _context(self, pos: torch.Tensor):
        raise NotImplementedError

    def _rotate_blocks(self, xb: torch.Tensor, ctx) -> torch.Tensor:
        raise NotImplementedError

    def _rotate_blocks_for_logits(self, xb: torch.Tensor, ctx) -> torch.Tensor:
        """The rotated blocks in any orthogonal basis of the family's choosing; by default R x itself."""
        return self._rotate_blocks(xb, ctx)

    def _plane_context(self, pos: torch.Tensor):
        """The context of the folded path (``folded=True``): families without a plane basis have none."""
        raise self._no_plane_basis()

    def _no_plane_basis(self) -> ValueError:
        return ValueError(
            f"the '{self.family}' family has no plane basis to fold into the query and key projections; "
            "folded=True and fold_weight work for the planar families (axial, mixed, givens, commuting)."
        )

    def _rotate_planes(self, yb: torch.Tensor, ctx) -> torch.Tensor:
        raise NotImplementedError

    def _block_rotations(self, pos: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _block_generators(self, dtype: torch.dtype) -> torch.Tensor:
        raise ValueError(
            f"the '{self.family}' family is not defined by generators, so it has none; "
            "use rotation(pos) for its dense matrices."
        )

    # ------------------------------------------------------------------ public interface
    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        pos: torch.Tensor,
        *,
        num_prefix_tokens: int = 0,
        for_logits: bool = False,
        folded: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate queries and keys.

        Args:
            q, k: (B, H, N, D) with H = num_heads, D = head_dim; the first ``num_prefix_tokens``
                tokens are prefix tokens (class, registers), the rest have positions.
            pos: (N - num_prefix_tokens, n_axes) positions of the other tokens (shared by the batch).
            num_prefix_tokens: tokens without a position, as timm's ``num_prefix_tokens``. They are
                not rotated (R(0) = I); with ``for_logits`` or ``folded`` they still come back in the
                plane basis, like every other token, so that their logits stay right.
            for_logits: return q', k' in the blocks' plane basis instead (Q^T R q rather than R q).
                Every dot product q'_i . k'_j is the same, so dot-product attention is unchanged,
                and a learned basis costs one k x k map per block fewer (theory T5). Use it only
                when q' and k' meet nothing but each other's dot products.
            folded: q and k come from projections folded by ``fold_weight`` (already in the plane
                basis), so only the planes rotate: the result is what ``for_logits`` gives for the
                unfolded projections, and the basis costs no map per token at all (planar families).
        Returns:
            (q', k'), same shapes and dtypes as q and k.
        """
        self._check_qk(q, k)
        mode = "folded" if folded else "logits" if for_logits else "rotate"
        return self._rotated((q, k), pos, mode, num_prefix_tokens)

    def rotate(self, x: torch.Tensor, pos: torch.Tensor, *, num_prefix_tokens: int = 0) -> torch.Tensor:
        """Rotate one (B, H, N, D) tensor (e.g. keys of a cross-attention) by R(pos), prefix tokens left as they are."""
        self._check_qk(x, x)
        return self._rotated((x,), pos, "rotate", num_prefix_tokens)[0]

    def rotation(self, pos: torch.Tensor) -> torch.Tensor:
        """Dense reference: (H, N, D, D) matrices R(pos), in float64 when pos is float64."""
        pos = self._check_pos(pos, n_tokens=None, device=self._device())
        pos = pos.to(reference_dtype(pos.dtype))
        with torch.autocast(device_type=pos.device.type, enabled=False):
            blocks = self._block_rotations(pos)
        dense = embed_blocks(blocks, self.head_dim, fill=1.0)
        return dense.expand(self.num_heads, *dense.shape[1:])

    def generators(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(H, n_axes, D, D) skew-symmetric A_a with R(p) = exp(sum_a p_a A_a)."""
        blocks = self._block_generators(reference_dtype(dtype))
        dense = embed_blocks(blocks, self.head_dim, fill=0.0)
        return dense.expand(self.num_heads, *dense.shape[1:])

    def fold_weight(self, w: torch.Tensor) -> torch.Tensor:
        """W -> blockdiag(Q)^T W per head, for ``folded=True`` (the planar families override this)."""
        raise self._no_plane_basis()

    def no_weight_decay(self) -> set[str]:
        """Names of the learned rotation parameters, to keep out of weight decay."""
        return {name for name, _ in self.named_parameters()}

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, num_heads={self.num_heads}, n_axes={self.n_axes}, "
            f"block_size={self.block_size}, rotated_dims={self.rotated_dims}, relative={self.relative}"
        )

    # ------------------------------------------------------------------ internals
    def _device(self) -> torch.device:
        tensor = next(iter(self.parameters()), None)
        if tensor is None:
            tensor = next(iter(self.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def _rotated(
        self, tensors: tuple[torch.Tensor, ...], pos, mode: str, num_prefix_tokens: int
    ) -> tuple[torch.Tensor, ...]:
        """Check pos, build the angle context once (fp32, outside autocast), rotate every tensor.

        mode: "rotate" (R x), "logits" (``for_logits``) or "folded" (the planes only).
        """
        x = tensors[0]
        n_prefix = _check_int("num_prefix_tokens", num_prefix_tokens, 0)
        if n_prefix > x.shape[-2]:
            raise ValueError(f"num_prefix_tokens={n_prefix} is more than the {x.shape[-2]} tokens of q and k.")
        pos = self._check_pos(pos, n_tokens=x.shape[-2] - n_prefix, device=x.device, n_prefix=n_prefix)
        if n_prefix and mode == "rotate":  # R(0) = I: the prefix tokens come back exactly as they are
            rotated = self._rotate_all(tuple(t[..., n_prefix:, :] for t in tensors), pos, mode)
            return tuple(torch.cat((t[..., :n_prefix, :], r), dim=-2) for t, r in zip(tensors, rotated))
        if n_prefix:  # in the plane basis at position 0, where the planes do not turn
            pos = torch.cat((pos.new_zeros(n_prefix, pos.shape[1]), pos))
        return self._rotate_all(tensors, pos, mode)

    def _rotate_all(self, tensors: tuple[torch.Tensor, ...], pos: torch.Tensor, mode: str) -> tuple[torch.Tensor, ...]:
        """Every tensor rotated at the checked positions ``pos``, one per token."""
        x = tensors[0]
        with torch.autocast(device_type=x.device.type, enabled=False):
            # The folded path needs no basis, so its context does not build one.
            context = self._plane_context if mode == "folded" else self._context
            ctx = context(pos.to(reference_dtype(x.dtype)))
            return tuple(self._rotate(t, ctx, mode) for t in tensors)

    def _rotate(self, x: torch.Tensor, ctx, mode: str = "rotate") -> torch.Tensor:
        work = torch.promote_types(x.dtype, torch.float32)
        xb = x[..., : self.block_dims].to(work).unflatten(-1, (self.num_blocks, self.block_size))
        rotate_blocks = {
            "rotate": self._rotate_blocks,
            "logits": self._rotate_blocks_for_logits,
            "folded": self._rotate_planes,
        }[mode]
        rotated = rotate_blocks(xb, ctx).flatten(-2).to(x.dtype)
        if self.block_dims == self.head_dim:
            return rotated
        return torch.cat((rotated, x[..., self.block_dims :]), dim=-1)

    def _check_qk(self, q, k) -> None:
        for name, t in (("q", q), ("k", k)):
            if not isinstance(t, torch.Tensor):
                raise ValueError(f"{name} must be a torch.Tensor of shape (B, H, N, D), got {type(t).__name__}.")
            if not t.is_floating_point():
                raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
        if q.dim() != 4:
            raise ValueError(
                f"q and k must have shape (B, H, N, D) = (batch, heads, tokens, head_dim); got q of shape "
                f"{tuple(q.shape)}. Reshape to (B, num_heads, N, head_dim) before the encoding."
            )
        if q.shape != k.shape or q.dtype != k.dtype:
            raise ValueError(
                f"q and k must have the same shape and dtype; got q {tuple(q.shape)} {q.dtype} "
                f"and k {tuple(k.shape)} {k.dtype}."
            )
        _, h, _, d = q.shape
        if h != self.num_heads or d != self.head_dim:
            raise ValueError(
                f"q has {h} heads of width {d}, but this encoding was built for num_heads={self.num_heads}, "
                f"head_dim={self.head_dim}; build it with the attention's num_heads and head_dim."
            )

    def _check_pos(self, pos, n_tokens: int | None, device: torch.device, n_prefix: int = 0) -> torch.Tensor:
        if not isinstance(pos, torch.Tensor):
            raise ValueError(
                f"pos must be a torch.Tensor of shape (N, n_axes={self.n_axes}), got {type(pos).__name__}."
            )
        if pos.dim() != 2:
            raise ValueError(
                f"pos must have shape (N, n_axes) = (N, {self.n_axes}); got shape {tuple(pos.shape)}. "
                "Positions are shared by the batch: pass one (N, n_axes) tensor, not one per example."
            )
        if pos.shape[1] != self.n_axes:
            raise ValueError(
                f"pos has {pos.shape[1]} coordinates per token but this encoding was built with "
                f"n_axes={self.n_axes}; pass (N, {self.n_axes}) positions or build with n_axes={pos.shape[1]}."
            )
        if n_tokens is not None and pos.shape[0] != n_tokens:
            raise ValueError(
                f"pos has {pos.shape[0]} positions but q and k have N={n_tokens + n_prefix} tokens, "
                f"{n_prefix} of them prefix tokens; pass one position per token after the prefix, and the "
                "number of tokens without a position (class, registers) as num_prefix_tokens."
            )
        if pos.is_complex() or pos.dtype == torch.bool:
            raise ValueError(f"pos must hold real numbers, got dtype {pos.dtype}.")
        if not pos.is_floating_point():
            pos = pos.to(torch.float32)
        # A value check syncs with the device, so compiled graphs skip it (shapes are still checked).
        if not torch.compiler.is_compiling() and not torch.isfinite(pos).all():
            raise ValueError("pos holds NaN or infinite values; positions must be finite numbers.")
        return pos.to(device)
