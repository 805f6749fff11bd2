"""T1 sufficiency and T2 necessity: the relative property R(x)^T R(y) = R(y - x) of
R(p) = exp(sum_a p_a A_a) holds exactly when the generators A_a commute."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import sympy as sp

from .certificate import Evidence, exact, holds, numeric, span, theorem
from .closed_forms import exp_skew
from .lie import Family, Words, commutator, commuting_family, exp_defect, normal_order, skew, truncated_exp
from .numeric import as_array, expm_rotation, random_values, relative_error
from .trig import TrigPolynomials


@dataclass(frozen=True)
class ExactFamily:
    """A family's matrices in one TrigPolynomials ring: Q (multiplied out), the cores, any extra
    matrices, and E(x), E(y), E(y - x) with E(p) = exp(sum_a p_a C_a) for symbolic positions x, y."""

    ring: TrigPolynomials
    Q: list
    cores: list
    extra: list
    Ex: list
    Ey: list
    Ed: list


def exact_family(family: Family, *extra: sp.Matrix) -> ExactFamily:
    n, k = len(family.cores), family.k
    x = sp.symbols(f"x1:{n + 1}", real=True)
    y = sp.symbols(f"y1:{n + 1}", real=True)

    def E(p):
        return exp_skew(sp.Add(sp.zeros(k, k), *(pa * C for pa, C in zip(p, family.cores))))

    ring = TrigPolynomials(*family.q_factors, *family.cores, *extra, E(x), E(y), E([b - a for a, b in zip(x, y)]))
    matrices = iter(ring.matrices)
    q_factors = [next(matrices) for _ in family.q_factors]
    cores = [next(matrices) for _ in family.cores]
    extra_matrices = [next(matrices) for _ in extra]
    return ExactFamily(ring, ring.mul(ring.identity(k), *q_factors), cores, extra_matrices, *matrices)


def _exact_relative(family: Family):
    """Exact residuals of one family: Q^T Q - I, the core residual N and the core commutators.

    With R(p) = Q E(p) Q^T:
    R(x)^T R(y) - R(y - x) = Q N Q^T with N = E(x)^T (Q^T Q) E(y) - E(y - x), and
    [A_a, A_b] = Q (C_a (Q^T Q) C_b - C_b (Q^T Q) C_a) Q^T; Q is invertible, so each vanishes iff
    its core does. The products are formed in that order so the exact arithmetic stays small.
    """
    f = exact_family(family)
    ring, cores = f.ring, f.cores
    QtQ = ring.mul(ring.T(f.Q), f.Q)
    N = ring.sub(ring.mul(ring.T(f.Ex), QtQ, f.Ey), f.Ed)
    commuting = {
        frozenset((a, b))
        for a, b in itertools.combinations(range(len(cores)), 2)
        if not any(ring.entries(ring.sub(ring.mul(cores[a], QtQ, cores[b]), ring.mul(cores[b], QtQ, cores[a]))))
    }
    return ring.entries(ring.sub(QtQ, ring.identity(family.k))), ring.entries(N), commuting


def _series_residual(n: int, commuting: set[frozenset], order: int) -> list:
    """Coefficients of exp(-X) exp(Y) - exp(Y - X) up to total degree `order`, for X = sum x_a A_a,
    Y = sum y_a A_a with abstract generators A_a of which exactly the pairs in `commuting` commute."""
    x, y = sp.symbols(f"x1:{n + 1}"), sp.symbols(f"y1:{n + 1}")
    X, Y = Words.linear(x), Words.linear(y)
    return [c for part in exp_defect(X, Y, order) for c in normal_order(part, commuting).values()]


def _numeric_relative(family: Family, rng: np.random.Generator, pairs: int = 8) -> float:
    values = random_values(family.symbols, rng, scale=3.0)
    Q = as_array(family.Q, values)
    generators = np.stack([Q @ as_array(C, values) @ Q.T for C in family.cores])
    xs, ys = rng.uniform(-4, 4, size=(2, pairs, len(family.cores)))
    return relative_error(expm_rotation(generators), xs, ys)


@theorem(
    "T1",
    "Commuting generators give R(x)^T R(y) = R(y - x)",
    "exact: residual reduced to the zero matrix in the ring of trigonometric polynomials (symbolic "
    "angles theta_{a,l}, positions x, y and basis Q = product of Givens rotations over all planes); "
    "power series: exp(-X) exp(Y) - exp(Y - X) vanishes to the stated order in the algebra of the "
    "generators; numeric: scipy.linalg.expm at random values",
)
def t1_sufficiency(families: list[Family] | None = None, order: int = 6, seed: int = 1) -> Evidence:
    families = [commuting_family(k) for k in range(2, 7)] if families is None else families
    rng = np.random.default_rng(seed)
    checks, series_cache = [], {}
    for family in families:
        k, n = family.k, len(family.cores)
        orthogonality, residual, commuting = _exact_relative(family)
        key = (n, frozenset(commuting))
        if key not in series_cache:
            series_cache[key] = _series_residual(n, commuting, order)
        checks += [
            exact(f"k={k}: Q^T Q = I", orthogonality),
            exact(f"k={k}: R(x)^T R(y) - R(y - x) = 0", residual),
            exact(f"k={k}: exp(-X) exp(Y) = exp(Y - X) to order {order}", series_cache[key]),
            numeric(f"k={k}: scipy expm relative error", _numeric_relative(family, rng)),
        ]
    ks, ns = span(f.k for f in families), span(len(f.cores) for f in families)
    return Evidence(f"k = {ks}, n = {ns} axes, series to order {order}", tuple(checks))


def _mixed_derivative_numeric(A: np.ndarray, B: np.ndarray, h: float = 2e-4) -> np.ndarray:
    """d^2/dx dy at 0 of exp(-xA) exp(yB) - exp(yB - xA), central differences with scipy expm."""

    def f(x, y):
        return scipy.linalg.expm(-x * A) @ scipy.linalg.expm(y * B) - scipy.linalg.expm(y * B - x * A)

    return (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h)


@theorem(
    "T2",
    "If R(x)^T R(y) = R(y - x) holds, the generators commute: d^2/dxdy at 0 of "
    "exp(-xA) exp(yB) - exp(yB - xA) is -(1/2)[A, B], nonzero for non-commuting A, B",
    "exact: d^2/dxdy at 0 only sees the series terms of degree <= 1 in x and in y, expanded for fully "
    "symbolic skew A, B; the commutator of the given pair is checked nonzero; numeric: central "
    "differences of scipy.linalg.expm at random values",
)
def t2_necessity(pairs: list[tuple[sp.Matrix, sp.Matrix]] | None = None, seed: int = 2) -> Evidence:
    pairs = [(skew(k, "a"), skew(k, "b")) for k in range(3, 7)] if pairs is None else pairs
    x, y = sp.symbols("x y", real=True)
    rng = np.random.default_rng(seed)
    checks = []
    for A, B in pairs:
        k = A.rows
        defect = truncated_exp(-x * A, 1) * truncated_exp(y * B, 1) - truncated_exp(y * B - x * A, 2)
        D = sp.diff(defect, x, y).subs({x: 0, y: 0}).applyfunc(sp.expand)
        C = commutator(A, B).applyfunc(sp.expand)
        values = random_values(A.free_symbols | B.free_symbols, rng)
        An, Bn = as_array(A, values), as_array(B, values)
        fd = _mixed_derivative_numeric(An, Bn)
        checks += [
            exact(f"k={k}: mixed derivative + [A, B]/2 = 0", (D + C / 2).applyfunc(sp.expand)),
            holds(f"k={k}: [A, B] != 0, so the relative property fails", any(c != 0 for c in C)),
            numeric(f"k={k}: finite differences of scipy expm", np.abs(fd + (An @ Bn - Bn @ An) / 2).max(), 1e-6),
        ]
    return Evidence(f"k = {span(A.rows for A, _ in pairs)} (so(2) is abelian), fully symbolic skew A, B", tuple(checks))
