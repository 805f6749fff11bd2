"""T11: an axial head's attention over a grid of offsets is a product of a row and a column part, so it
cannot weight a set of offsets that is not a product; how far it stays from one is a mutual information.

For fixed content (one query vector, the same key vector at every position) a relative design's logit
is a function f(d) of the offset d = (d_row, d_col) between key and query, a sum over its rotation
planes of a_p cos(theta_p . d + phi_p). In an axial design (axial RoPE, the seed's Givens blocks, the
commuting axial design) each plane turns with one axis, so f(d) = g(d_row) + h(d_col), and the softmax
over a full rectangle of keys is r(d_row) c(d_col): rank one in the offset. For a target pattern B,
KL(B || r c) = I(B) + KL(B_row || r) + KL(B_col || c) >= I(B), the mutual information of B's row and
column offsets, with equality at B's own marginals. A plane that turns with both axes (RoPE-Mixed, the
commuting mixed design) has d^2 f / d d_row d d_col != 0, and no such floor. One head at a time: heads,
content and later layers can combine product patterns, so the model-level consequence is weaker.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.optimize
import scipy.special
import sympy as sp

from .certificate import Evidence, exact, holds, numeric, theorem

# Targets on the offsets -1..1 of each axis: uniform over the listed cells.
DIAGONAL_PAIR = ((1, 1), (-1, -1))  # not a product: I = log 2
DIAGONAL_NEIGHBOURS = ((1, 1), (-1, -1), (1, -1), (-1, 1))  # a product of {-1, 1} x {-1, 1}: I = 0
OFFSETS = (-1, 0, 1)


def plane_logit(theta_row, theta_col, amplitude, phase, d_row, d_col):
    """One rotation plane's contribution to the logit for fixed content: a cos(theta . d + phi)."""
    return amplitude * sp.cos(theta_row * d_row + theta_col * d_col + phase)


def cross_derivative(planes) -> sp.Expr:
    """d^2 f / d d_row d d_col of the logit summed over ``planes`` ((theta_row, theta_col) per plane)."""
    d_row, d_col = sp.symbols("d_row d_col", real=True)
    f = sum(
        plane_logit(tr, tc, sp.Symbol(f"a{i}", positive=True), sp.Symbol(f"phi{i}", real=True), d_row, d_col)
        for i, (tr, tc) in enumerate(planes)
    )
    return sp.simplify(sp.diff(f, d_row, d_col))


def at_point(expr: sp.Expr, **values) -> sp.Expr:
    """``expr`` with its symbols set by name (whatever their assumptions)."""
    return expr.subs({sym: values[sym.name] for sym in expr.free_symbols if sym.name in values})


def softmax_factor_residual(n: int = 3) -> list:
    """softmax(g_i + h_j) over an n x n rectangle minus softmax(g)_i softmax(h)_j, symbolic g and h."""
    g, h = sp.symbols(f"g0:{n}", real=True), sp.symbols(f"h0:{n}", real=True)
    z = sum(sp.exp(gi + hj) for gi in g for hj in h)
    zg, zh = sum(map(sp.exp, g)), sum(map(sp.exp, h))
    return [sp.simplify(sp.exp(gi + hj) / z - sp.exp(gi) / zg * sp.exp(hj) / zh) for gi in g for hj in h]


def target(cells) -> dict:
    """The uniform distribution on ``cells`` as exact rationals {(d_row, d_col): p}."""
    return {cell: sp.Rational(1, len(cells)) for cell in cells}


def marginals(b: dict) -> tuple[dict, dict]:
    rows = {d: sum(p for (r, _), p in b.items() if r == d) for d in OFFSETS}
    cols = {d: sum(p for (_, c), p in b.items() if c == d) for d in OFFSETS}
    return rows, cols


def mutual_information(b: dict) -> sp.Expr:
    """I(B) = KL(B || B_row B_col), exactly."""
    rows, cols = marginals(b)
    return sp.nsimplify(sp.simplify(sum(p * sp.log(p / (rows[r] * cols[c])) for (r, c), p in b.items())))


def decomposition_residual(b: dict) -> sp.Expr:
    """KL(B || r c) - I(B) - KL(B_row || r) - KL(B_col || c) for symbolic positive r, c on the offsets."""
    r = {d: sp.Symbol(f"r{d + 1}", positive=True) for d in OFFSETS}
    c = {d: sp.Symbol(f"c{d + 1}", positive=True) for d in OFFSETS}
    rows, cols = marginals(b)
    kl = sum(p * sp.log(p / (r[i] * c[j])) for (i, j), p in b.items())
    kl_rows = sum(p * sp.log(p / r[d]) for d, p in rows.items() if p)
    kl_cols = sum(p * sp.log(p / c[d]) for d, p in cols.items() if p)
    return sp.simplify(sp.expand_log(kl - mutual_information(b) - kl_rows - kl_cols, force=True))


def best_product_kl(b: dict, starts: int = 8, seed: int = 11) -> tuple[float, float]:
    """(lowest KL(B || r c) over product distributions found by scipy from random starts, lowest KL at
    random product distributions): the first should reach I(B), the second never go below it."""
    cells = list(itertools.product(OFFSETS, OFFSETS))
    p = np.array([float(b.get(cell, 0)) for cell in cells])
    support = p > 0

    def kl(params):
        r, c = scipy.special.softmax(params[:3]), scipy.special.softmax(params[3:])
        q = np.outer(r, c).ravel()
        return float(np.sum(p[support] * np.log(p[support] / q[support])))

    rng = np.random.default_rng(seed)
    fitted = min(scipy.optimize.minimize(kl, rng.normal(size=6), method="BFGS").fun for _ in range(starts))
    sampled = min(kl(rng.normal(scale=3.0, size=6)) for _ in range(2000))
    return fitted, sampled


@theorem(
    "T11",
    "For fixed content an axial head's logit is g(d_row) + h(d_col) and its attention over a full grid of "
    "keys is r(d_row) c(d_col); for a target B, KL(B || r c) >= I(B), the mutual information of B's row "
    "and column offsets (log 2 for the diagonal pair {(1,1), (-1,-1)}, 0 for a product such as the four "
    "diagonal neighbours); a plane turning with both axes has a non-zero cross derivative",
    "exact: the cross derivative of symbolic axial and mixed planes' logits; softmax of g_i + h_j against "
    "softmax(g) softmax(h) for symbolic g, h; the decomposition KL(B||rc) = I + KL(B_row||r) + KL(B_col||c) "
    "for symbolic r, c; I(B) in closed form; numeric: scipy's minimum of KL over product distributions "
    "reaches I(B), and 2,000 random products stay above it",
)
def t11_separability(axial_planes=None, targets=(DIAGONAL_PAIR, DIAGONAL_NEIGHBOURS), seed: int = 11) -> Evidence:
    t1, t2 = sp.symbols("theta1 theta2", positive=True)
    axial_planes = ((t1, 0), (0, t2)) if axial_planes is None else axial_planes
    checks = [
        exact("axial planes: d^2 f / d d_row d d_col = 0", [cross_derivative(axial_planes)]),
        holds(
            "a mixed plane: d^2 f / d d_row d d_col != 0 (at theta = (1, 1), d = 0, phase 0)",
            at_point(cross_derivative(((t1, t2),)), theta1=1, theta2=1, d_row=0, d_col=0, phi0=0, a0=1) != 0,
        ),
        exact("softmax(g_i + h_j) = softmax(g)_i softmax(h)_j on a 3x3 grid", softmax_factor_residual()),
    ]
    table = []
    for cells in targets:
        b = target(cells)
        info = mutual_information(b)
        fitted, sampled = best_product_kl(b, seed=seed)
        checks += [
            exact(f"{cells}: KL decomposes into I + the marginals' KLs", [decomposition_residual(b)]),
            numeric(f"{cells}: scipy's best product reaches I = {info}", abs(fitted - float(info)), tol=1e-6),
            holds(f"{cells}: random products stay at or above I", sampled >= float(info) - 1e-12),
        ]
        table.append({"target": str(list(cells)), "mutual_information": float(info), "exact": str(info)})
    expected = {DIAGONAL_PAIR: sp.log(2), DIAGONAL_NEIGHBOURS: sp.Integer(0)}
    checks += [
        exact(f"I{cells} = {value}", [sp.simplify(mutual_information(target(cells)) - value)])
        for cells, value in expected.items()
        if cells in targets
    ]
    return Evidence(
        "offsets -1..1 on both axes; the diagonal pair and the four diagonal neighbours", checks, tuple(table)
    )
