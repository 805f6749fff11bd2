"""numpy/scipy references: rotations by scipy.linalg.expm, the relative error, commutation defect,
random orthogonal and skew matrices, and sympy matrices as float64 arrays. The tests compare
rope_blocks against these."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import scipy.linalg
import sympy as sp

from . import lie


def as_array(M: sp.Matrix, values: dict | None = None) -> np.ndarray:
    """A sympy matrix as float64, after substituting `values` for its symbols."""
    M = M if values is None else M.subs(values)
    return np.array(M.evalf(), dtype=float)


def random_values(symbols: Iterable[sp.Symbol], rng: np.random.Generator, scale: float = 1.0) -> dict:
    return {s: sp.Float(scale * rng.uniform(-1.0, 1.0), 17) for s in sorted(symbols, key=str)}


def random_orthogonal(k: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed element of SO(k) (QR of a Gaussian matrix with the sign fixed)."""
    return orthogonal_from_qr(rng.standard_normal((k, k)))


def orthogonal_from_qr(a: np.ndarray) -> np.ndarray:
    """The Q of a = QR with r's diagonal made non-negative, then det +1 (column 0 flipped if needed).

    sign(0) would zero a column: a zero on r's diagonal (a singular a) keeps its column as it is.
    """
    q, r = np.linalg.qr(a)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def random_skew(k: int, rng: np.random.Generator, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """U - U^T with the strict upper triangle of U uniform in [low, high) (LieRE's init uses [0, 2 pi))."""
    U = np.triu(rng.uniform(low, high, size=(k, k)), 1)
    return U - U.T


def torus(k: int, thetas) -> np.ndarray:
    """theory.lie.torus (sum_l theta_l J_{2l,2l+1}) as float64."""
    return as_array(lie.torus(k, [float(t) for t in thetas]))


def expm_rotation(generators: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """positions (S, n_axes) -> (S, ..., D, D) expm(sum_a p_a A_a), generators (..., n_axes, D, D).

    One batched scipy.linalg.expm call per batch of positions: a threaded BLAS costs milliseconds of
    start-up per call on a busy machine, far more than the exponential of a small block.
    """
    A = np.asarray(generators, dtype=float)
    lead, (n, D, _) = A.shape[:-3], A.shape[-3:]
    flat = A.reshape(-1, n, D, D)

    def rotation(positions: np.ndarray) -> np.ndarray:
        P = np.asarray(positions, dtype=float).reshape(-1, n)
        X = np.einsum("sa,hajk->shjk", P, flat)
        return scipy.linalg.expm(X).reshape(len(P), *lead, D, D)

    return rotation


def relative_error(rotation: Callable[[np.ndarray], np.ndarray], xs: np.ndarray, ys: np.ndarray) -> float:
    """max over pairs (x, y) of max |R(x)^T R(y) - R(y - x)|; `rotation` maps positions (S, n_axes) to
    matrices (S, ..., D, D)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    Rx, Ry, Rd = np.split(rotation(np.concatenate([xs, ys, ys - xs])), 3)
    return float(np.abs(np.swapaxes(Rx, -1, -2) @ Ry - Rd).max())


def commutation_defect(generators: np.ndarray) -> float:
    """max over pairs a < b (and over leading dims) of max |[A_a, A_b]|; 0 iff the generators commute."""
    A = np.asarray(generators, dtype=float)
    n = A.shape[-3]
    worst = 0.0
    for a in range(n):
        for b in range(a + 1, n):
            Aa, Ab = A[..., a, :, :], A[..., b, :, :]
            worst = max(worst, float(np.abs(Aa @ Ab - Ab @ Aa).max()))
    return worst
