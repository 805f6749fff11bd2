"""T9: LieRE's free generators break the relative property; the error starts at the commutator term
-(x y / 2)[A, B] (BCH to second order), and its size at LieRE's initialisation is measured."""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
import sympy as sp

from .certificate import Evidence, exact, holds, numeric, span, theorem
from .lie import Words, exp_defect, normal_order
from .numeric import expm_rotation, random_skew, relative_error

# LieRE normalises positions to [0, 1]: cell (r, c) of a G x G grid sits at (r, c) / (G - 1).
GRID = 32
OFFSETS = (1, 2, 4, 8)  # grid cells between the two tokens
DIRECTIONS = ((1, 0), (0, 1), (1, 1), (1, -1))
LIERE_INIT = (0.0, 2 * np.pi)  # generator entries U[0, 2 pi): LieRE's initialisation


def grid_pairs(offset: int, count: int, rng: np.random.Generator, grid: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """`count` pairs (x, y) of cells of a grid x grid image `offset` cells apart along a row, a column or
    a diagonal, in LieRE's [0, 1] coordinates: shapes (count, 2) each."""
    xs, ys = [], []
    while len(xs) < count:
        d = np.array(DIRECTIONS[rng.integers(len(DIRECTIONS))]) * offset
        x = rng.integers(0, grid, size=2)
        if np.all((x + d >= 0) & (x + d < grid)):
            xs.append(x)
            ys.append(x + d)
    return np.array(xs, dtype=float) / (grid - 1), np.array(ys, dtype=float) / (grid - 1)


def liere_generators(k: int, rng: np.random.Generator, n_axes: int = 2) -> np.ndarray:
    """(n_axes, k, k) generators of one LieRE block at initialisation."""
    return np.stack([random_skew(k, rng, *LIERE_INIT) for _ in range(n_axes)])


def leading_term(generators: np.ndarray, xs: np.ndarray, ys: np.ndarray, coefficient: float = -0.5) -> float:
    """max over pairs of max |coefficient [X, Y]|, X = sum_a x_a A_a, Y = sum_a y_a A_a: the BCH
    prediction of max |R(x)^T R(y) - R(y - x)|."""
    worst = 0.0
    for x, y in zip(xs, ys):
        X, Y = np.tensordot(x, generators, axes=1), np.tensordot(y, generators, axes=1)
        worst = max(worst, float(np.abs(coefficient * (X @ Y - Y @ X)).max()))
    return worst


def _series_deviation(claimed: Words, third: Words, rng: np.random.Generator, eps: float = 1e-3) -> float:
    """max |E - S| / |S| for E = exp(-xA) exp(yB) - exp(yB - xA) with scipy at x, y ~ eps and S the
    claimed degree-2 term plus the derived degree-3 term; the rest is O(eps^4) against S's O(eps^2),
    so the deviation is O(eps^2) exactly when the claimed term is right."""
    x, y = sp.symbols("x y")
    worst = 0.0
    for k in (3, 4, 6):
        A, B = random_skew(k, rng), random_skew(k, rng)
        values = dict(zip((x, y), eps * rng.uniform(0.5, 1.0, size=2)))
        E = scipy.linalg.expm(-values[x] * A) @ scipy.linalg.expm(values[y] * B) - scipy.linalg.expm(
            values[y] * B - values[x] * A
        )
        S = sum(
            float(c.subs(values)) * functools.reduce(np.matmul, ((A, B)[i] for i in word))
            for word, c in (claimed + third).items()
        )
        worst = max(worst, float(np.abs(E - S).max() / np.abs(S).max()))
    return worst


# The commutator's coefficient in the relative error's leading term, as the statement gives it.
MINUS_HALF = sp.Rational(-1, 2)


@theorem(
    "T9",
    "LieRE: the relative error's leading term is -(x y / 2)[A, B]; measured at LieRE's initialisation "
    "(U[0, 2 pi) generators) at typical grid offsets it is large for k >= 3 and zero for k = 2",
    "exact: BCH to second order in the free algebra of A, B (degree <= 1 terms vanish, degree 2 equals "
    "the stated term); numeric: scipy.linalg.expm at x, y ~ 1e-3 against the stated term plus the "
    "derived degree-3 term, and scipy.linalg.expm relative errors of "
    "random LieRE initialisations on a 32 x 32 grid in [0, 1] coordinates, offsets 1, 2, 4, 8 cells",
)
def t9_liere(
    coefficient=MINUS_HALF, ks=(2, 3, 4, 5, 6, 8), inits: int = 32, pairs: int = 32, seed: int = 9
) -> Evidence:
    x, y = sp.symbols("x y")
    parts = exp_defect(Words({(0,): x}), Words({(1,): y}), 3)
    claimed = Words({(0, 1): coefficient * x * y, (1, 0): -coefficient * x * y})
    checks = [
        exact("degree <= 1 terms vanish", [c for part in parts[:2] for c in normal_order(part, set()).values()]),
        exact("degree 2 term = c x y [A, B]", list(normal_order(parts[2] - claimed, set()).values())),
        exact(
            "with commuting A, B the degree 3 term vanishes too",
            list(normal_order(parts[3], {frozenset((0, 1))}).values()),
        ),
    ]
    rng = np.random.default_rng(seed)
    third = Words(normal_order(parts[3], set()))
    checks.append(
        numeric(
            "scipy expm at x, y ~ 1e-3 matches the series to O(eps^2)", _series_deviation(claimed, third, rng), 1e-4
        )
    )
    table = []
    for k in ks:
        for offset in OFFSETS:
            errors, predictions = [], []
            for _ in range(inits):
                generators = liere_generators(k, rng)
                xs, ys = grid_pairs(offset, pairs, rng)
                errors.append(relative_error(expm_rotation(generators), xs, ys))
                predictions.append(leading_term(generators, xs, ys, float(coefficient)))
            table.append(
                {
                    "k": k,
                    "offset_cells": offset,
                    "mean_error": float(np.mean(errors)),
                    "max_error": float(np.max(errors)),
                    "mean_leading_term": float(np.mean(predictions)),
                }
            )
        rows = [row for row in table if row["k"] == k]
        if k == 2:
            checks.append(numeric("k=2: LieRE is relative (so(2) is abelian)", max(row["max_error"] for row in rows)))
        else:
            smallest = min(row["mean_error"] for row in rows)
            checks.append(holds(f"k={k}: error at 1-8 cell offsets >= 1e-3 (mean {smallest:.3g})", smallest >= 1e-3))
    return Evidence(
        f"k = {span(ks)}; {inits} initialisations x {pairs} pairs per offset; grid {GRID} x {GRID} in [0, 1], "
        f"offsets {span(OFFSETS)} cells along rows, columns and diagonals",
        tuple(checks),
        tuple(table),
    )
