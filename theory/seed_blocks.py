"""T6 and T7: the k x k blocks of the seed study (ViTs on CIFAR10). Its Givens design (one plane (m, n) of
each block rotates) is relative; its weighted design (the mean of the Givens rotations of all planes) is neither
orthogonal nor relative for k >= 3.

Also the numpy references of both designs over a whole head, in rope_blocks' layout: the head holds
nb = D // k blocks (leftover dims pass), block b follows axis a(b) = floor(b n_axes / nb), and the j-th
of the G blocks of an axis turns by theta_j p_a with theta_j = base^(-j / G); when k divides the
per-axis width w this is the seed study's theta_b = 100^(-2 k b / d) = base^(-k b / w).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp

from .certificate import EXPM_TOL, Evidence, exact, holds, numeric, span, theorem
from .lie import givens, plane, planes
from .numeric import commutation_defect, relative_error
from .trig import TrigPolynomials

# (block size, head dim) of the seed study's models: dim_head 32, 36, 32, 40, 36 for k = 2..6
SEED_HEADS = {2: 32, 3: 36, 4: 32, 5: 40, 6: 36}


def seed_givens_block(k: int, phi, plane_: tuple[int, int] = (0, 1)) -> sp.Matrix:
    return givens(k, *plane_, phi)


def weighted_block(k: int, phi) -> sp.Matrix:
    """A(phi) = (1/P) sum_{m<n} G_mn(phi), P = k(k-1)/2."""
    P = len(planes(k))
    return sp.Add(*(givens(k, i, j, phi) for i, j in planes(k))) / P


def weighted_closed_form(k: int, phi) -> sp.Matrix:
    """(1 - 2(1 - cos phi)/k) I + (2 sin phi / (k(k-1))) S with S = sum_{m<n} J_mn."""
    S = sp.Add(*(plane(k, i, j) for i, j in planes(k)))
    return (1 - 2 * (1 - sp.cos(phi)) / k) * sp.eye(k) + (2 * sp.sin(phi) / (k * (k - 1))) * S


def block_layout(head_dim: int, n_axes: int, k: int, base: float = 100.0):
    """(axis, first dim, theta) of every k x k block of a head."""
    nb = head_dim // k
    axes = [b * n_axes // nb for b in range(nb)]
    layout = []
    for a in range(n_axes):
        group = [b for b in range(nb) if axes[b] == a]
        layout += [(a, b * k, base ** (-j / len(group))) for j, b in enumerate(group)]
    return sorted(layout, key=lambda entry: entry[1])


def seed_givens_generators(head_dim: int, n_axes: int, k: int, plane_=(0, 1), base: float = 100.0) -> np.ndarray:
    """(n_axes, D, D) generators of the seed's Givens design: block b of axis a is theta_b J_mn."""
    A = np.zeros((n_axes, head_dim, head_dim))
    J = np.array(plane(k, *plane_), dtype=float)
    for a, start, theta in block_layout(head_dim, n_axes, k, base):
        A[a, start : start + k, start : start + k] = theta * J
    return A


def weighted_numeric(k: int):
    """phi (S,) -> (S, k, k) weighted blocks A(phi), from the closed form of T7."""
    S = np.array(sp.Add(*(plane(k, i, j) for i, j in planes(k))), dtype=float)

    def blocks(phi: np.ndarray) -> np.ndarray:
        phi = np.asarray(phi, dtype=float)[:, None, None]
        return (1 - 2 * (1 - np.cos(phi)) / k) * np.eye(k) + (2 * np.sin(phi) / (k * (k - 1))) * S

    return blocks


def seed_weighted_rotation(head_dim: int, n_axes: int, k: int, base: float = 100.0):
    """positions (S, n_axes) -> (S, D, D): the seed's weighted operator of a head (block-diagonal
    A(theta_b p_a), identity on leftover dims)."""
    blocks = weighted_numeric(k)
    layout = block_layout(head_dim, n_axes, k, base)

    def rotation(positions: np.ndarray) -> np.ndarray:
        P = np.asarray(positions, dtype=float).reshape(-1, n_axes)
        R = np.broadcast_to(np.eye(head_dim), (len(P), head_dim, head_dim)).copy()
        for a, start, theta in layout:
            R[:, start : start + k, start : start + k] = blocks(theta * P[:, a])
        return R

    return rotation


def _relative_residual(block, k: int, x, y) -> list:
    """Exact entries of B(x)^T B(y) - B(y - x) and of B(x)^T B(x) - I."""
    ring = TrigPolynomials(block(k, x), block(k, y), block(k, y - x))
    Bx, By, Bd = ring.matrices
    return ring.entries(ring.sub(ring.mul(ring.T(Bx), By), Bd)), ring.entries(
        ring.sub(ring.mul(ring.T(Bx), Bx), ring.identity(k))
    )


@theorem(
    "T6",
    "The seed's Givens blocks: G_mn(phi) = I + sin(phi) J + (1 - cos(phi)) J^2 = exp(phi J) with J^3 = -J; "
    "the k x k Givens design is relative and rotates 2/k of the dims",
    "exact: J^3 = -J and dG/dphi = J G, G(0) = I for every plane; the block's relative residual and "
    "B^T B - I reduced to zero; moved dims counted from the block; numeric: scipy expm, and the seed's "
    "head-level generators (dim_head 32..40) commute",
)
def t6_givens_blocks(block=seed_givens_block, ks=range(2, 7), seed: int = 6) -> Evidence:
    phi, x, y = sp.symbols("phi x y", real=True)
    rng = np.random.default_rng(seed)
    checks = []
    for k in ks:
        cubes, odes, numeric_G, generators = [], [], [], []
        for i, j in planes(k):
            J, G = plane(k, i, j), givens(k, i, j, phi)
            cubes += list(J**3 + J)
            odes += list((sp.diff(G, phi) - J * G).applyfunc(sp.expand)) + list(G.subs(phi, 0) - sp.eye(k))
            t = rng.uniform(-np.pi, np.pi)
            numeric_G.append(np.array(G.subs(phi, t), dtype=float))
            generators.append(t * np.array(J, dtype=float))
        worst = np.abs(np.stack(numeric_G) - scipy.linalg.expm(np.stack(generators))).max()
        relative, orthogonal = _relative_residual(block, k, x, y)
        moved = sum(1 for r in range(k) if any(e != 0 for e in (block(k, phi) - sp.eye(k)).row(r)))
        checks += [
            exact(f"k={k}: J^3 = -J (all planes)", cubes),
            exact(f"k={k}: G = exp(phi J): G' = J G, G(0) = I", odes),
            numeric(f"k={k}: G vs scipy expm", worst, EXPM_TOL),
            exact(f"k={k}: block relative B(x)^T B(y) = B(y - x)", relative),
            exact(f"k={k}: block orthogonal", orthogonal),
            holds(f"k={k}: block moves 2 of {k} dims", moved == 2),
        ]
        if k in SEED_HEADS:
            generators = seed_givens_generators(SEED_HEADS[k], 2, k)
            moving = np.count_nonzero(np.abs(generators).sum(axis=(0, 1)))
            checks.append(
                numeric(f"k={k}: seed head (d={SEED_HEADS[k]}) generators commute", commutation_defect(generators))
            )
            checks.append(
                holds(
                    f"k={k}: seed head rotates {moving}/{SEED_HEADS[k]} = 2/k of the dims",
                    moving * k == 2 * SEED_HEADS[k],
                )
            )
    return Evidence(f"k = {span(ks)}; seed heads d = {span(SEED_HEADS.values())}", tuple(checks))


# The weighted design's relative error is measured at these single-block positions (theta = 1), so
# that rope_blocks.relative_error can be compared number for number.
WEIGHTED_POSITIONS = [(x, y) for x in range(5) for y in range(5)]


@theorem(
    "T7",
    "The seed's weighted block A(phi) = (1/P) sum_{m<n} G_mn(phi) = (1 - 2(1 - cos phi)/k) I + "
    "(2 sin phi / (k(k-1))) S; A^T A != I for k >= 3 (singular values sqrt(a^2 + b^2 cot^2((2m-1) pi/(2k)))), "
    "and the relative property fails",
    "exact: closed form and A^T A = a^2 I - b^2 S^2 expanded; eigenvalues of -S^2 exact; A^T A - I and the "
    "counterexample x = y (A(x)^T A(x) != A(0)) reduced in the trigonometric ring; numeric: SVD against "
    "the formula, relative error at integer positions 0..4 (theta = 1)",
)
def t7_weighted_blocks(block=weighted_block, ks=range(2, 7), seed: int = 7) -> Evidence:
    phi, x, y = sp.symbols("phi x y", real=True)
    rng = np.random.default_rng(seed)
    checks, table = [], []
    for k in ks:
        S = sp.Add(*(plane(k, i, j) for i, j in planes(k)))
        a, b = 1 - 2 * (1 - sp.cos(phi)) / k, 2 * sp.sin(phi) / (k * (k - 1))
        A = block(k, phi)
        checks.append(exact(f"k={k}: closed form", (A - weighted_closed_form(k, phi)).applyfunc(sp.expand)))
        checks.append(
            exact(f"k={k}: A^T A = a^2 I - b^2 S^2", (A.T * A - a**2 * sp.eye(k) + b**2 * S**2).applyfunc(sp.expand))
        )
        relative, orthogonal = _relative_residual(block, k, x, y)
        if k == 2:
            checks.append(exact("k=2: A is a rotation", orthogonal))
            checks.append(exact("k=2: A is relative", relative))
        else:
            checks.append(holds(f"k={k}: A(x)^T A(y) - A(y - x) does not vanish", any(e != 0 for e in relative)))
            checks.append(
                holds(f"k={k}: A^T A != I (counterexample x = y: A(x)^T A(x) != A(0))", any(e != 0 for e in orthogonal))
            )
        eigen = sorted(float(v) for v, mult in (-(S**2)).eigenvals().items() for _ in range(mult))
        cot2 = sorted(1 / np.tan((2 * m - 1) * np.pi / (2 * k)) ** 2 for m in range(1, k + 1))
        t = rng.uniform(0.2, 3.0)
        values = {phi: t}
        predicted = sorted(np.sqrt(float(a.subs(values)) ** 2 + float(b.subs(values)) ** 2 * np.array(eigen)))
        measured = sorted(np.linalg.svd(np.array(A.subs(values), dtype=float), compute_uv=False))
        checks.append(
            numeric(f"k={k}: eigenvalues of -S^2 are cot^2((2m-1) pi / 2k)", np.abs(np.array(eigen) - cot2).max())
        )
        checks.append(numeric(f"k={k}: singular values", np.abs(np.array(predicted) - measured).max()))
        at_one = sorted(np.linalg.svd(np.array(A.subs(phi, 1), dtype=float), compute_uv=False))
        numeric_block = sp.lambdify(phi, A, "numpy")
        xs, ys = (np.array([[pair[i]] for pair in WEIGHTED_POSITIONS], dtype=float) for i in (0, 1))
        # Called at once, inside this iteration: the lambda sees this k's block.
        error = relative_error(
            lambda P: np.stack([np.asarray(numeric_block(p[0]), dtype=float) for p in P]),  # noqa: B023
            xs,
            ys,
        )
        table.append(
            {
                "k": k,
                "singular_values_at_phi_1": [round(float(s), 12) for s in at_one],
                "counterexample_entry_00": str(sp.factor(sp.simplify((A.T * A)[0, 0] - 1))),
                "relative_error": error,
                "positions": "single block, theta = 1, x, y in {0, 1, 2, 3, 4}",
            }
        )
    return Evidence(f"k = {span(ks)}", tuple(checks), tuple(table))
