"""T5: in dot-product attention the basis change Q of a commuting family folds into W_q and W_k, so
commuting k x k blocks and 2x2 RoPE-Mixed (per-plane angles linear in all axes) have the same
function class."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp

from .certificate import NUMERIC_TOL, Evidence, exact, numeric, span, theorem
from .lie import Family, commuting_family
from .numeric import as_array, random_values
from .relative import exact_family


def _logit_residual(family: Family):
    """Exact entries of W_q^T R_Q(x)^T R_Q(y) W_k - (Q^T W_q)^T E(y - x) (Q^T W_k), where
    R_Q(p) = Q E(p) Q^T and E(p) = exp(sum_a p_a C_a): rotated-query/key logits minus RoPE-Mixed
    logits with W' = Q^T W. Formed as W_q^T Q (E(x)^T (Q^T Q) E(y) - E(y - x)) Q^T W_k."""
    k = family.k
    Wq, Wk = (sp.Matrix(k, k, sp.symbols(f"{name}0:{k * k}", real=True)) for name in ("wq", "wk"))
    f = exact_family(family, Wq, Wk)
    ring, (Wq, Wk) = f.ring, f.extra
    inner = ring.sub(ring.mul(ring.T(f.Ex), ring.T(f.Q), f.Q, f.Ey), f.Ed)
    return ring.entries(ring.mul(ring.T(Wq), f.Q, inner, ring.T(f.Q), Wk))


def _numeric_residual(Q: np.ndarray, cores: np.ndarray, rng: np.random.Generator, d_model: int = 8) -> float:
    """Logits with R_Q(p) = expm(sum_a p_a Q C_a Q^T) (scipy) against RoPE-Mixed logits with W' = Q^T W."""
    k, n = Q.shape[0], len(cores)
    Wq, Wk = rng.normal(size=(2, k, d_model))
    u, v = rng.normal(size=(2, d_model))
    worst = 0.0
    for _ in range(4):
        x, y = rng.uniform(-5, 5, size=(2, n))
        rotate = lambda p, basis: scipy.linalg.expm(
            np.tensordot(p, np.einsum("ij,ajk,lk->ail", basis, cores, basis), axes=1)
        )
        attended = (rotate(x, Q) @ Wq @ u) @ (rotate(y, Q) @ Wk @ v)
        mixed = (Q.T @ Wq @ u) @ rotate(y - x, np.eye(k)) @ (Q.T @ Wk @ v)
        worst = max(worst, abs(attended - mixed) / max(1.0, abs(mixed)))
    return worst


@theorem(
    "T5",
    "(W_q x)^T Q R(y - x) Q^T (W_k y) = (W_q' x)^T R(y - x) (W_k' y) with W' = Q^T W: commuting k x k "
    "blocks and 2x2 RoPE-Mixed have the same function class",
    "exact: logits of queries and keys rotated by Q R(p) Q^T minus RoPE-Mixed logits with W' = Q^T W, "
    "symbolic W_q, W_k, angles, positions and basis, reduced to zero; numeric: scipy.linalg.expm of the "
    "family's generators against RoPE-Mixed, random orthogonal Q",
)
def t5_absorption(Q=None, ks=range(2, 6), seed: int = 5) -> Evidence:
    rng = np.random.default_rng(seed)
    checks = []
    if Q is not None:
        factors = tuple(Q) if isinstance(Q, (list, tuple)) else (sp.Matrix(Q),)
        ks = [factors[0].rows]
    for k in ks:
        family = commuting_family(k) if Q is None else Family(factors, commuting_family(k).cores)
        checks.append(exact(f"k={k}: logits equal RoPE-Mixed logits with W' = Q^T W", _logit_residual(family)))
        values = random_values(family.symbols, rng, scale=3.0)
        Qn = as_array(family.Q, values)
        cores = np.stack([as_array(C, values) for C in family.cores])
        checks.append(
            numeric(f"k={k}: scipy expm logits vs RoPE-Mixed", _numeric_residual(Qn, cores, rng), NUMERIC_TOL)
        )
    return Evidence(f"k = {span(ks)}, n = 2 axes, W_q, W_k symbolic k x k", tuple(checks))
