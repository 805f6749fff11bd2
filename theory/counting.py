"""T10: what each design spends and buys per k x k block: dims it moves, independent rotation planes,
learned parameters, the relative property, and the cost of applying it to one query or key.

Every number the table claims is recomputed from a numpy construction of one block of the design:
moved dims = rank(R(p) - I) at a random position, relative = commuting generators (or the measured
relative error for the weighted block, which has none), parameters = the sizes of the learned arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .certificate import Evidence, holds, span, theorem
from .liere import liere_generators
from .numeric import commutation_defect, expm_rotation, random_skew, relative_error, torus
from .seed_blocks import seed_weighted_rotation

N_AXES = 2


@dataclass(frozen=True)
class Design:
    """One encoding design: how to build a block, and what the table claims about it.

    build(k, rng) -> (rotation p -> k x k matrix, generators (n, k, k) or None, learned arrays).
    The claims are functions of k (n = N_AXES axes); macs_per_dim is the multiply-adds per head dim and
    token to rotate a query or key once cos/sin of the angles are at hand (2 for a plane; 4/k for the
    seed's Givens blocks, which move 2 of k dims; 3 for the weighted block's a x + c S x with S x a
    cumulative sum; k + 2 for Q^T x and the planes of a commuting block, whose map back folds away in
    attention and whose Q^T folds into W_q, W_k (T5), leaving 2; k for a dense LieRE block), and
    exponentials counts the k x k matrix exponentials per block and token.
    """

    name: str
    ks: tuple[int, ...]
    build: Callable
    relative: Callable[[int], bool]
    moved_dims: Callable[[int], int]
    params: Callable[[int], int]
    macs_per_dim: Callable[[int], float]
    exponentials: int = 0


def _from_generators(generators: np.ndarray, learned: list[np.ndarray]):
    return expm_rotation(generators), generators, learned


def _axial(k, rng):
    theta = rng.uniform(0.1, 1.0)
    return _from_generators(np.stack([torus(k, [theta]), np.zeros((k, k))]), [])


def _mixed(k, rng):
    omega = rng.normal(size=N_AXES)
    return _from_generators(np.stack([torus(k, [w]) for w in omega]), [omega])


def _givens(k, rng):
    return _from_generators(np.stack([torus(k, [rng.uniform(0.1, 1.0)]), np.zeros((k, k))]), [])


def _weighted(k, rng):
    return seed_weighted_rotation(k, 1, k, base=100.0), None, []


def _commuting(k, rng, design):
    S = random_skew(k, rng)  # the learned basis Q = Cayley(S) has k(k-1)/2 free numbers
    Q = (np.eye(k) - S) @ np.linalg.inv(np.eye(k) + S)
    if design == "axial":
        theta = rng.uniform(0.1, 1.0, size=k // 2)
        generators = np.stack([Q @ torus(k, theta) @ Q.T, np.zeros((k, k))])
        return _from_generators(generators, [S[np.triu_indices(k, 1)]])
    omega = rng.normal(size=(N_AXES, k // 2))
    generators = np.stack([Q @ torus(k, w) @ Q.T for w in omega])
    return _from_generators(generators, [S[np.triu_indices(k, 1)], omega])


def _liere(k, rng):
    generators = liere_generators(k, rng, N_AXES)
    return _from_generators(generators, [g[np.triu_indices(k, 1)] for g in generators])


def _pairs(k):
    return k * (k - 1) // 2


ALL_K = tuple(range(2, 9))
DESIGNS = (
    Design("axial", (2,), _axial, lambda k: True, lambda k: 2, lambda k: 0, lambda k: 2),
    Design("mixed", (2,), _mixed, lambda k: True, lambda k: 2, lambda k: N_AXES, lambda k: 2),
    Design("givens", ALL_K, _givens, lambda k: True, lambda k: 2, lambda k: 0, lambda k: 4 / k),
    Design("weighted", ALL_K, _weighted, lambda k: k == 2, lambda k: 2 if k == 2 else k, lambda k: 0, lambda k: 3),
    Design(
        "commuting_axial",
        ALL_K,
        lambda k, rng: _commuting(k, rng, "axial"),
        lambda k: True,
        lambda k: 2 * (k // 2),
        _pairs,
        lambda k: 2 + k,
    ),
    Design(
        "commuting_mixed",
        ALL_K,
        lambda k, rng: _commuting(k, rng, "mixed"),
        lambda k: True,
        lambda k: 2 * (k // 2),
        lambda k: _pairs(k) + N_AXES * (k // 2),
        lambda k: 2 + k,
    ),
    Design(
        "liere",
        ALL_K,
        _liere,
        lambda k: k == 2,
        lambda k: 2 * (k // 2),
        lambda k: N_AXES * _pairs(k),
        lambda k: k,
        exponentials=1,
    ),
)


def _measure(design: Design, k: int, rng: np.random.Generator) -> dict:
    rotation, generators, learned = design.build(k, rng)
    p = rng.uniform(1.0, 3.0, size=N_AXES)
    moved = int(np.linalg.matrix_rank(rotation(p[None])[0] - np.eye(k), tol=1e-9))
    if generators is not None:
        relative = commutation_defect(generators) <= 1e-12
    else:
        xs, ys = rng.uniform(-4, 4, size=(2, 8, N_AXES))
        relative = relative_error(rotation, xs, ys) <= 1e-10
    return {"moved_dims": moved, "relative": bool(relative), "params": int(sum(a.size for a in learned))}


@theorem(
    "T10",
    "Counting: dims moved, independent planes, learned parameters and cost per token of each design and k",
    "each claim recomputed from a numpy block of the design: rank(R(p) - I) at a random position, "
    "commutation of the generators (measured relative error for the weighted block), sizes of the "
    "learned arrays; relative designs use at most floor(k/2) planes (T3)",
)
def t10_counting(designs=DESIGNS, seed: int = 10) -> Evidence:
    rng = np.random.default_rng(seed)
    checks, table = [], []
    for design in designs:
        for k in design.ks:
            measured = _measure(design, k, rng)
            claimed = {"moved_dims": design.moved_dims(k), "relative": design.relative(k), "params": design.params(k)}
            for key in claimed:
                checks.append(holds(f"{design.name} k={k}: {key} = {claimed[key]}", measured[key] == claimed[key]))
            if measured["relative"]:
                checks.append(
                    holds(f"{design.name} k={k}: planes <= floor(k/2)", measured["moved_dims"] <= 2 * (k // 2))
                )
            table.append(
                {
                    "design": design.name,
                    "k": k,
                    "relative": measured["relative"],
                    "moved_dims_per_block": measured["moved_dims"],
                    "rotated_fraction": round(measured["moved_dims"] / k, 4),
                    "independent_planes": measured["moved_dims"] // 2 if measured["relative"] else None,
                    "learned_params_per_block": measured["params"],
                    "learned_params_per_dim": round(measured["params"] / k, 4),
                    "macs_per_dim": round(design.macs_per_dim(k), 4),
                    "exponentials_per_block_token": design.exponentials,
                }
            )
    ks = span(k for design in designs for k in design.ks)
    return Evidence(f"k = {ks}, n = {N_AXES} axes; {len(designs)} designs", tuple(checks), tuple(table))
