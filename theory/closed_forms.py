"""T8: closed forms of the exponential of so(3) (Rodrigues) and so(4) (two planes), and the exact
exponential of skew matrices that split into planes and 3x3 blocks, used by the other proofs.

The closed forms are written once for any array library `lib` (sympy or numpy): the proof runs them
on a symbol, the cross-check on float64 arrays.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp

from .certificate import EXPM_TOL, Evidence, exact, numeric, theorem
from .lie import skew
from .numeric import random_skew


def rodrigues(W, theta, lib=sp):
    """exp(W) = I + sin(t)/t W + (1 - cos t)/t^2 W^2 for W in so(3) with |w| = t."""
    I = lib.eye(W.shape[0])
    return I + (lib.sin(theta) / theta) * W + ((1 - lib.cos(theta)) / theta**2) * (W @ W)


def two_plane(A, theta1, theta2, lib=sp):
    """exp(A) for A in so(4) with eigenvalues +-i theta1, +-i theta2 (theta1^2 != theta2^2).

    A = theta1 B1 + theta2 B2 with B1 B2 = 0 and B_i^3 = -B_i; B_i is recovered from A and A^3, and
    each plane contributes its own Givens term I + sin B + (1 - cos) B^2.
    """
    A3 = A @ A @ A
    B1 = (A3 + theta2**2 * A) / (theta1 * (theta2**2 - theta1**2))
    B2 = (A3 + theta1**2 * A) / (theta2 * (theta1**2 - theta2**2))
    out = lib.eye(A.shape[0])
    for B, t in ((B1, theta1), (B2, theta2)):
        out = out + lib.sin(t) * B + (1 - lib.cos(t)) * (B @ B)
    return out


def so4_angles(A: np.ndarray) -> tuple[float, float]:
    """theta1, theta2 of A in so(4): theta1^2 + theta2^2 = sum_{i<j} a_ij^2, theta1 theta2 = |Pf(A)|."""
    s = float(np.sum(np.triu(A, 1) ** 2))
    pf = A[0, 1] * A[2, 3] - A[0, 2] * A[1, 3] + A[0, 3] * A[1, 2]
    root = np.sqrt(max(s * s - 4 * pf * pf, 0.0))
    return np.sqrt((s + root) / 2), np.sqrt((s - root) / 2)


def _components(M: sp.Matrix) -> list[list[int]]:
    """Index sets of the diagonal blocks that M's sparsity pattern splits into."""
    parent = list(range(M.rows))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(M.rows):
        for j in range(i + 1, M.rows):
            if M[i, j] != 0:
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(M.rows):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def exp_skew(M: sp.Matrix) -> sp.Matrix:
    """exp(M) in closed form for skew M whose blocks have size <= 3 (planes: Givens, 3x3: Rodrigues)."""
    out = sp.zeros(M.rows, M.rows)
    for idx in _components(M):
        block = M.extract(idx, idx)
        if len(idx) == 1:
            E = sp.eye(1)
        elif len(idx) == 2:
            phi = block[1, 0]
            E = sp.Matrix([[sp.cos(phi), -sp.sin(phi)], [sp.sin(phi), sp.cos(phi)]])
        elif len(idx) == 3:
            theta = sp.sqrt(block[1, 0] ** 2 + block[2, 0] ** 2 + block[2, 1] ** 2)
            E = rodrigues(block, theta)
        else:
            raise NotImplementedError(f"no closed-form exponential for a connected {len(idx)}x{len(idx)} block")
        for r, i in enumerate(idx):
            for c, j in enumerate(idx):
                out[i, j] = E[r, c]
    return out


def _solves_exp_ode(form, charpoly, thetas) -> list:
    """F(t) = form(t a, t thetas) equals exp(t a) as a polynomial in a modulo its characteristic
    polynomial: F(0) = 1 and F' - a F = 0 (uniqueness of the ODE solution). By Cayley-Hamilton the
    identity then holds for every matrix with that characteristic polynomial.

    Returns the normalised residuals [F(0) - 1, coefficients of (F' - a F) mod charpoly].
    """
    a, t = sp.symbols("a t", real=True)
    F = sp.cancel(sp.expand(form(sp.Matrix([[t * a]]), *(t * th for th in thetas))[0, 0]))
    dF = sp.diff(F, t)
    numerator = sp.numer(sp.together(sp.expand(dF - a * F)))
    remainder = sp.Poly(numerator, a).rem(sp.Poly(charpoly(a), a))
    return [sp.simplify(F.subs(t, 0) - 1), *(sp.expand(c) for c in remainder.all_coeffs())]


@theorem(
    "T8",
    "Rodrigues' formula (3x3) and the two-plane formula (4x4) equal the matrix exponential",
    "symbolic: F(t) = form(tA) solves F' = AF, F(0) = I modulo the characteristic polynomial, which is "
    "checked for fully symbolic skew A (Cayley-Hamilton); numeric: against scipy.linalg.expm on 200 "
    "random Gaussian matrices each",
)
def t8_closed_forms(rodrigues_form=rodrigues, two_plane_form=two_plane, samples: int = 200, seed: int = 8) -> Evidence:
    th, th1, th2 = sp.symbols("theta theta1 theta2", positive=True)
    W, A = skew(3, "w"), skew(4, "a")
    w2 = W[1, 0] ** 2 + W[2, 0] ** 2 + W[2, 1] ** 2
    s = sum(A[j, i] ** 2 for i in range(4) for j in range(i + 1, 4))
    pf = A[0, 1] * A[2, 3] - A[0, 2] * A[1, 3] + A[0, 3] * A[1, 2]
    checks = [
        exact("so(3): W^3 + |w|^2 W = 0", (W**3 + w2 * W).applyfunc(sp.expand)),
        exact("so(4): A^4 + s A^2 + Pf(A)^2 I = 0", (A**4 + s * A**2 + pf**2 * sp.eye(4)).applyfunc(sp.expand)),
        exact(
            "Rodrigues solves the exponential ODE", _solves_exp_ode(rodrigues_form, lambda a: a**3 + th**2 * a, [th])
        ),
        exact(
            "two-plane formula solves the exponential ODE",
            _solves_exp_ode(two_plane_form, lambda a: (a**2 + th1**2) * (a**2 + th2**2), [th1, th2]),
        ),
    ]
    rng = np.random.default_rng(seed)
    W3 = np.stack([random_skew(3, rng, -2.0, 2.0) for _ in range(samples)])
    A4 = np.stack([random_skew(4, rng, -2.0, 2.0) for _ in range(samples)])
    E3, E4 = scipy.linalg.expm(W3), scipy.linalg.expm(A4)  # one batched call each
    worst3 = max(np.abs(rodrigues_form(W, np.sqrt(np.sum(np.triu(W, 1) ** 2)), np) - E).max() for W, E in zip(W3, E3))
    worst4 = max(np.abs(two_plane_form(A, *so4_angles(A), np) - E).max() for A, E in zip(A4, E4))
    checks += [
        numeric("Rodrigues vs scipy expm", worst3, EXPM_TOL),
        numeric("two-plane vs scipy expm", worst4, EXPM_TOL),
    ]
    return Evidence(f"k = 3, 4; {samples} random matrices each, entries uniform in [-2, 2)", tuple(checks))
