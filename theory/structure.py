"""T3 the commuting subspaces of so(k), T4 the normal form Q diag(2x2 generators, 0) Q^T of a
commuting family."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp
from sympy.polys.matrices import DomainMatrix

from .certificate import Evidence, exact, holds, numeric, span, theorem
from .lie import commutator, hat, plane, planes, skew, torus
from .numeric import random_orthogonal, random_skew
from .numeric import torus as torus_np
from .trig import TrigPolynomials

NORMAL_FORM_TOL = 1e-10


def _ad_matrix(H, k: int):
    """The map X -> [H, X] on so(k), columns indexed by the plane basis J_ij (sympy or numpy)."""
    basis = [plane(k, i, j) for i, j in planes(k)]
    if isinstance(H, np.ndarray):
        cols = [(H @ B - B @ H).ravel() for B in (np.array(b, dtype=float) for b in basis)]
        return np.stack(cols, axis=1)
    return sp.Matrix.hstack(*(commutator(H, B).reshape(k * k, 1) for B in basis))


def centraliser_dimension(k: int) -> int:
    """dim of {X in so(k): [H, X] = 0} for H = sum_l t_l J_{2l,2l+1} with symbolic t_l, i.e. the
    rank over the field Q(t) (a generic element of the maximal torus)."""
    t = sp.symbols(f"t1:{k // 2 + 1}")
    return len(planes(k)) - DomainMatrix.from_Matrix(_ad_matrix(torus(k, t), k)).to_field().rank()


@theorem(
    "T3",
    "The centraliser of a generic torus element of so(k) has dimension floor(k/2); in so(3) "
    "[a^, b^] = (a x b)^, so a relative 3x3 block with 2D positions has parallel generators (one direction)",
    "exact: rank of ad_H over Q(t) with symbolic torus coordinates t, and the torus planes commute with H; "
    "the cross-product identity for symbolic a, b and the given pair's commutator and cross product; "
    "numeric: null space of ad_H by SVD for H conjugated by a random Q",
)
def t3_structure(pair=None, ks=range(2, 9), seed: int = 3) -> Evidence:
    lam = sp.Symbol("lambda", real=True)
    a = sp.Matrix(sp.symbols("a1:4", real=True))
    pair = (a, lam * a) if pair is None else tuple(sp.Matrix(v) for v in pair)
    u, v = sp.Matrix(sp.symbols("u1:4", real=True)), sp.Matrix(sp.symbols("v1:4", real=True))
    rng = np.random.default_rng(seed)
    checks = []
    for k in ks:
        t = sp.symbols(f"t1:{k // 2 + 1}")
        H = torus(k, t)
        checks.append(holds(f"k={k}: dim centraliser = floor(k/2) = {k // 2}", centraliser_dimension(k) == k // 2))
        checks.append(
            exact(
                f"k={k}: the torus planes commute with H",
                [e for l in range(k // 2) for e in commutator(H, plane(k, 2 * l, 2 * l + 1))],
            )
        )
        Q = random_orthogonal(k, rng)
        Hn = Q @ torus_np(k, rng.uniform(0.5, 2.0, k // 2) * np.arange(1, k // 2 + 1)) @ Q.T
        _, sv, vt = np.linalg.svd(_ad_matrix(Hn, k))
        null = vt[np.sum(sv > 1e-9 * np.abs(Hn).max()) :]
        basis = [np.array(plane(k, i, j), dtype=float) for i, j in planes(k)]
        kernel = [sum(c * B for c, B in zip(row, basis)) for row in null]
        checks.append(holds(f"k={k}: numeric nullity = {k // 2}", len(kernel) == k // 2))
        checks.append(numeric(f"k={k}: numeric kernel commutes", max(np.abs(Hn @ X - X @ Hn).max() for X in kernel)))
    p, q = pair
    checks += [
        exact("so(3): [u^, v^] = (u x v)^", (commutator(hat(u), hat(v)) - hat(u.cross(v))).applyfunc(sp.expand)),
        exact("the given 3x3 pair commutes", commutator(hat(p), hat(q)).applyfunc(sp.expand)),
        exact("the given 3x3 pair is parallel (one direction)", p.cross(q).applyfunc(sp.expand)),
    ]
    return Evidence(f"k = {span(ks)}; so(3) pair {tuple(p)}, {tuple(q)}", tuple(checks))


def simultaneous_normal_form(generators: np.ndarray, rng: np.random.Generator | None = None):
    """Bring a family of skew k x k matrices to Q diag(2x2 generators, 0) Q^T with one orthogonal Q.

    The real Schur form of a random combination M = sum_a c_a A_a supplies Q (for commuting A_a the
    joint invariant planes of a generic combination are those of every A_a); the residual is the largest
    entry of Q^T A_a Q outside the 2x2 diagonal blocks, relative to the family's scale, so it is at
    rounding level exactly when the family commutes.

    Returns (Q, blocks, residual): blocks has shape (n, m, 2, 2), m the number of planes.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    A = np.asarray(generators, dtype=float)
    n, k = A.shape[0], A.shape[-1]
    scale = max(np.abs(A).max(), 1e-300)
    T, Z = scipy.linalg.schur(np.tensordot(rng.standard_normal(n), A, axes=1), output="real")
    pairs, i = [], 0
    while i < k - 1:
        if abs(T[i + 1, i]) > 1e-12 * scale:
            pairs.append(i)
            i += 2
        else:
            i += 1
    rest = [j for j in range(k) if all(j not in (p, p + 1) for p in pairs)]
    Q = Z[:, [j for p in pairs for j in (p, p + 1)] + rest]
    D = np.einsum("ji,ajk,kl->ail", Q, A, Q)
    mask = np.zeros((k, k), dtype=bool)
    for l in range(len(pairs)):
        mask[2 * l : 2 * l + 2, 2 * l : 2 * l + 2] = True
    blocks = (
        np.stack([D[:, 2 * l : 2 * l + 2, 2 * l : 2 * l + 2] for l in range(len(pairs))], axis=1)
        if pairs
        else np.zeros((n, 0, 2, 2))
    )
    residual = float(np.abs(D[:, ~mask]).max()) / scale if (~mask).any() else 0.0
    return Q, blocks, residual


def random_commuting_family(k: int, n_axes: int, rng: np.random.Generator) -> np.ndarray:
    """Q T_a Q^T with Q Haar on SO(k) and T_a random torus elements: rope_blocks' `commuting` design."""
    Q = random_orthogonal(k, rng)
    return np.stack([Q @ torus_np(k, rng.normal(size=k // 2)) @ Q.T for _ in range(n_axes)])


def _cayley(S: sp.Matrix) -> tuple[sp.Matrix, sp.Expr]:
    """Cayley basis Q = (I - S)(I + S)^-1 as P / d with P = (I - S) adj(I + S), d = det(I + S), so that
    its identities become polynomial ones."""
    k = S.rows
    return (sp.eye(k) - S) * (sp.eye(k) + S).adjugate(), (sp.eye(k) + S).det()


@theorem(
    "T4",
    "Every commuting family of skew k x k matrices is Q diag(2x2 rotation generators, 0) Q^T with Q orthogonal",
    "numeric construction: real Schur form of a random combination, then the off-block residual of every "
    "member (tolerance 1e-10 relative), which non-commuting controls fail; exact: rope_blocks' Cayley basis "
    "Q = (I - S)(I + S)^-1 is orthogonal and its family Q T_a Q^T commutes, for symbolic S and T_a "
    "(polynomial identities after "
    "clearing the denominator det(I + S))",
)
def t4_normal_form(families: list[np.ndarray] | None = None, cayley_ks=range(2, 5), seed: int = 4) -> Evidence:
    rng = np.random.default_rng(seed)
    if families is None:
        families = [random_commuting_family(k, n, rng) for k in range(2, 9) for n in (1, 2, 3) for _ in range(3)]
    checks = []
    # The construction must discriminate: free (LieRE-like) pairs have no common normal form.
    for k in (3, 4, 6, 8):
        residual = simultaneous_normal_form(np.stack([random_skew(k, rng), random_skew(k, rng)]), rng)[2]
        checks.append(
            holds(f"non-commuting control k={k}: construction rejects it (residual {residual:.2g})", residual > 1e-3)
        )
    for index, family in enumerate(families):
        Q, blocks, residual = simultaneous_normal_form(family, rng)
        k = family.shape[-1]
        rebuilt = np.einsum("ij,ajk,lk->ail", Q, _block_diag(blocks, k), Q)
        checks.append(
            numeric(f"family {index} (k={k}, n={len(family)}): off-block residual", residual, NORMAL_FORM_TOL)
        )
        checks.append(
            numeric(
                f"family {index}: Q diag(...) Q^T rebuilds it",
                np.abs(rebuilt - family).max(),
                NORMAL_FORM_TOL * max(1.0, np.abs(family).max()),
            )
        )
        checks.append(numeric(f"family {index}: Q orthogonal", np.abs(Q.T @ Q - np.eye(k)).max(), NORMAL_FORM_TOL))
    for k in cayley_ks:
        P, d = _cayley(skew(k, "s"))
        T1, T2 = (torus(k, sp.symbols(f"{name}1:{k // 2 + 1}")) for name in ("f", "g"))
        ring = TrigPolynomials(P, T1, T2, d * sp.eye(k))
        P, T1, T2, dI = ring.matrices
        PtP = ring.mul(ring.T(P), P)
        checks.append(exact(f"Cayley k={k}: Q^T Q = I", ring.entries(ring.sub(PtP, ring.mul(dI, dI)))))
        commutator_numerator = ring.sub(ring.mul(P, T1, PtP, T2, ring.T(P)), ring.mul(P, T2, PtP, T1, ring.T(P)))
        checks.append(exact(f"Cayley k={k}: [Q T1 Q^T, Q T2 Q^T] = 0", ring.entries(commutator_numerator)))
    ks, ns = span(f.shape[-1] for f in families), span(len(f) for f in families)
    return Evidence(f"k = {ks}, n = {ns} ({len(families)} families); Cayley k = {span(cayley_ks)}", tuple(checks))


def _block_diag(blocks: np.ndarray, k: int) -> np.ndarray:
    n, m = blocks.shape[:2]
    out = np.zeros((n, k, k))
    for l in range(m):
        out[:, 2 * l : 2 * l + 2, 2 * l : 2 * l + 2] = blocks[:, l]
    return out
