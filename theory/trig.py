"""Exact zero test for trigonometric polynomials, the engine of the symbolic proofs.

An entry built from sin and cos of (sums of) angles is expanded with the addition formulas, each
remaining cos(u), sin(u) becomes a polynomial variable c_u, s_u, and the result is reduced modulo
{s_u^2 + c_u^2 - 1}. Those relations have pairwise coprime leading terms s_u^2, so they form a Groebner
basis and the remainder is a normal form: an entry whose normal form is 0 is identically 0. (The
converse needs the angle atoms to be algebraically independent; a false identity can only show up
as a nonzero normal form, never the other way round, so a passed check is a proof.)

Matrices are kept as lists of rows of ring elements and reduced after every product, which keeps
the polynomials small: sympy's simplify takes minutes where this takes a second.
"""

from __future__ import annotations

import sympy as sp
from sympy.polys.rings import sring


class TrigPolynomials:
    """The quotient ring that holds every entry of the given sympy matrices."""

    def __init__(self, *matrices: sp.Matrix):
        expanded = [sp.Matrix(M).applyfunc(lambda e: sp.expand(sp.expand_trig(sp.expand(e)))) for M in matrices]
        angles = sorted({f.args[0] for M in expanded for f in M.atoms(sp.sin, sp.cos)}, key=sp.default_sort_key)
        s = [sp.Dummy(f"s{i}") for i in range(len(angles))]
        c = [sp.Dummy(f"c{i}") for i in range(len(angles))]
        to_vars = {**{sp.sin(u): v for u, v in zip(angles, s)}, **{sp.cos(u): v for u, v in zip(angles, c)}}
        entries = [e.xreplace(to_vars) for M in expanded for e in M]
        # an anchor term keeps sring's generators fixed even when no angle occurs
        anchor = sp.Dummy("anchor")
        self.ring, polys = sring([*entries, anchor], *s, *c, anchor)
        gens = self.ring.gens
        self.ideal = [gens[i] ** 2 + gens[len(s) + i] ** 2 - 1 for i in range(len(s))]
        polys = [self.reduce(p) for p in polys[:-1]]
        self.matrices, start = [], 0
        for M in expanded:
            rows = [polys[start + r * M.cols : start + (r + 1) * M.cols] for r in range(M.rows)]
            self.matrices.append(rows)
            start += M.rows * M.cols

    def reduce(self, p):
        return p.rem(self.ideal) if self.ideal else p

    def mul(self, *factors):
        out = factors[0]
        for B in factors[1:]:
            out = [
                [self.reduce(sum((row[l] * B[l][j] for l in range(len(B))), self.ring.zero)) for j in range(len(B[0]))]
                for row in out
            ]
        return out

    def identity(self, k: int):
        return [[self.ring.one if i == j else self.ring.zero for j in range(k)] for i in range(k)]

    @staticmethod
    def T(A):
        return [list(col) for col in zip(*A)]

    @staticmethod
    def sub(A, B):
        return [[a - b for a, b in zip(ra, rb)] for ra, rb in zip(A, B)]

    @staticmethod
    def entries(A):
        return [e for row in A for e in row]
