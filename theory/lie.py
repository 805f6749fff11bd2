"""so(k) in sympy: plane generators, Givens rotations, tori, generic skew matrices, commutators,
truncated exponentials, the commuting families of the proofs, and series in abstract (free)
generators.

Convention shared with rope_blocks: the generator of plane (i, j), i < j, is
J_ij = e_j e_i^T - e_i e_j^T, so exp(phi J_ij) maps x_i -> cos(phi) x_i - sin(phi) x_j.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import sympy as sp


def planes(k: int) -> list[tuple[int, int]]:
    """The k(k-1)/2 coordinate planes (i, j), i < j."""
    return list(itertools.combinations(range(k), 2))


def plane(k: int, i: int, j: int) -> sp.Matrix:
    J = sp.zeros(k, k)
    J[j, i], J[i, j] = 1, -1
    return J


def givens(k: int, i: int, j: int, phi) -> sp.Matrix:
    """G_ij(phi) = I + sin(phi) J + (1 - cos(phi)) J^2 (= exp(phi J_ij), T6)."""
    J = plane(k, i, j)
    return sp.eye(k) + sp.sin(phi) * J + (1 - sp.cos(phi)) * J * J


def torus(k: int, thetas) -> sp.Matrix:
    """sum_l theta_l J_{2l, 2l+1}: an element of the standard maximal torus of so(k)."""
    return sp.Add(sp.zeros(k, k), *(t * plane(k, 2 * l, 2 * l + 1) for l, t in enumerate(thetas)))


def skew(k: int, name: str) -> sp.Matrix:
    """The fully symbolic skew-symmetric matrix sum_{i<j} name_ij J_ij."""
    return sp.Add(sp.zeros(k, k), *(sp.Symbol(f"{name}{i}{j}", real=True) * plane(k, i, j) for i, j in planes(k)))


def commutator(A, B):
    return A * B - B * A


def hat(v) -> sp.Matrix:
    """so(3) hat map: hat(a) b = a x b."""
    a1, a2, a3 = v
    return sp.Matrix([[0, -a3, a2], [a3, 0, -a1], [-a2, a1, 0]])


def exp_parts(X, order: int) -> list:
    """The homogeneous terms X^j / j!, j = 0..order, of exp(X), for a sympy matrix or Words."""
    parts = [Words.one() if isinstance(X, Words) else sp.eye(X.rows)]
    for j in range(1, order + 1):
        parts.append(parts[-1] * X / j)
    return parts


def truncated_exp(X, order: int):
    """sum_{j <= order} X^j / j!."""
    return functools.reduce(lambda a, b: a + b, exp_parts(X, order))


@dataclass(frozen=True)
class Family:
    """Generators A_a = Q C_a Q^T (a = 1..n) of one k x k block, Q given as a product of factors.

    Keeping Q factored lets the exact arithmetic multiply small matrices, and keeping the cores C_a
    lets the exponential be taken in closed form: exp(sum_a p_a A_a) = Q exp(sum_a p_a C_a) Q^T
    whenever Q^T Q = I, which the proofs check rather than assume.
    """

    q_factors: tuple[sp.Matrix, ...]
    cores: tuple[sp.Matrix, ...]

    @property
    def k(self) -> int:
        return self.cores[0].rows

    @property
    def Q(self) -> sp.Matrix:
        return functools.reduce(lambda a, b: a * b, self.q_factors, sp.eye(self.k))

    @property
    def symbols(self) -> set:
        return set().union(*(M.free_symbols for M in (*self.q_factors, *self.cores)))


def givens_basis(k: int, name: str = "q") -> tuple[sp.Matrix, ...]:
    """Q = prod over all k(k-1)/2 planes of G_ij(q_ij): symbolic coordinates on SO(k)."""
    return tuple(givens(k, i, j, sp.Symbol(f"{name}{i}{j}", real=True)) for i, j in planes(k))


def commuting_family(k: int, n_axes: int = 2) -> Family:
    """The general commuting family of so(k): a symbolic basis Q and, per axis a, a symbolic torus
    element sum_l theta_{a,l} J_{2l,2l+1} (every plane follows every axis: the `mixed` design)."""
    cores = tuple(torus(k, [sp.Symbol(f"theta{a}_{l}", real=True) for l in range(k // 2)]) for a in range(n_axes))
    return Family(givens_basis(k), cores)


class Words(dict):
    """A noncommutative polynomial in abstract generators A_0, A_1, ...: words (tuples of generator
    indices) -> sympy coefficients. The product concatenates words, so series in generators that need
    not commute are exact, and far faster than sympy's noncommutative symbols."""

    @classmethod
    def one(cls) -> Words:
        return cls({(): sp.S.One})

    @classmethod
    def linear(cls, coefficients) -> Words:
        """sum_a c_a A_a."""
        return cls({(a,): c for a, c in enumerate(coefficients)})

    def __add__(self, other: Words) -> Words:
        out = Words(self)
        for w, a in other.items():
            out[w] = out.get(w, 0) + a
        return out

    def __neg__(self) -> Words:
        return Words({w: -a for w, a in self.items()})

    def __sub__(self, other: Words) -> Words:
        return self + (-other)

    def __mul__(self, other) -> Words:
        if not isinstance(other, Words):
            return Words({w: a * other for w, a in self.items()})
        out = Words()
        for u, a in self.items():
            for v, b in other.items():
                out[u + v] = out.get(u + v, 0) + a * b
        return out

    def __truediv__(self, scalar) -> Words:
        return self * sp.Rational(1, scalar)


def exp_defect(X, Y, order: int) -> list:
    """Homogeneous parts (degree 0..order) of exp(-X) exp(Y) - exp(Y - X), X and Y linear Words."""
    left, right, both = exp_parts(-X, order), exp_parts(Y, order), exp_parts(Y - X, order)
    return [
        functools.reduce(lambda a, b: a + b, (left[i] * right[j - i] for i in range(j + 1))) - both[j]
        for j in range(order + 1)
    ]


def normal_order(P: Words, commuting: set[frozenset]) -> dict:
    """Move commuting generators into index order and drop zero coefficients.

    Adjacent letters swap only when their pair is in `commuting`, so the result is empty only if P
    vanishes in the algebra where exactly those pairs commute (a sound zero test).
    """
    out: dict = {}
    for word, a in P.items():
        w = list(word)
        changed = True
        while changed:
            changed = False
            for i in range(len(w) - 1):
                if w[i + 1] < w[i] and frozenset((w[i], w[i + 1])) in commuting:
                    w[i], w[i + 1] = w[i + 1], w[i]
                    changed = True
        out[tuple(w)] = out.get(tuple(w), 0) + a
    return {w: c for w, c in ((w, sp.expand(a)) for w, a in out.items()) if c != 0}
