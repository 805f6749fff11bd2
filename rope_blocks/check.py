"""Every registered family and block size: theory's verdict next to the measurement.

A row per family (and design) and k; for each n_axes the theory verdict and the measured
relative error, then the worst orthogonality and fast-vs-dense errors over n_axes. The last
column says whether measurement and theory agree: relative means error <= 1e-5, not relative
means error > 1e-3. `rope-blocks check` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from records.model_id import Variant

from .metrics import fast_vs_dense_error, orthogonality_error, relative_error
from .registry import families, family_class, family_options

RELATIVE_TOL = 1e-5
VIOLATION_TOL = 1e-3
AXES = (1, 2, 3)
ANY_K = tuple(range(2, 9))  # the block sizes checked for a family that takes any k


@dataclass(frozen=True)
class Row:
    """One line of the table: ``family`` with ``options`` at the block sizes ``ks``."""

    label: str  # family, or family_design: the design's spelling everywhere (records.model_id.Variant.label)
    family: str
    options: dict
    ks: tuple[int, ...]


def rows() -> list[Row]:
    """A row per registered family, or per design of a family with designs."""
    out = []
    for family in families():
        cls = family_class(family)
        ks = cls.block_sizes or ANY_K
        if cls.designs and "design" in family_options(family):
            out += [Row(Variant(family, design=d).label, family, {"design": d}, ks) for d in cls.designs]
        else:
            out.append(Row(family, family, {}, ks))
    return out


def agrees(relative: bool, error: float) -> bool:
    return error <= RELATIVE_TOL if relative else error > VIOLATION_TOL


def measure(family: str, options: dict, k: int, n_axes: int, head_dim: int, num_heads: int, seed: int) -> dict:
    torch.manual_seed(seed)
    cls = family_class(family)
    enc = cls(head_dim, num_heads, n_axes, block_size=k, **options)
    extent = 1.0 if cls.unit_positions else 16.0  # LieRE: its normalised positions
    return {
        "relative": enc.relative,
        "relative_error": relative_error(enc, seed=seed, extent=extent),
        "orthogonality_error": orthogonality_error(enc, seed=seed, extent=extent) if cls.always_orthogonal else None,
        "fast_vs_dense": fast_vs_dense_error(enc, seed=seed, extent=extent),
    }


def table(head_dim: int, num_heads: int, seed: int, labels=None) -> tuple[list[str], bool]:
    """(lines of the table, whether every row agrees) for the rows named in ``labels`` (default all)."""
    header = f"{'family':<16} {'k':>2}  " + "  ".join(f"{'n=' + str(n) + ' theory, measured':<22}" for n in AXES)
    header += f"  {'orthogonality':>13}  {'fast-dense':>10}  agree"
    lines, all_agree = [header, "-" * len(header)], True
    for row in rows():
        if labels and row.label not in labels and row.family not in labels:
            continue
        for k in row.ks:
            cells, orth, fast, ok = [], 0.0, 0.0, True
            for n in AXES:
                m = measure(row.family, row.options, k, n, head_dim, num_heads, seed)
                verdict = "relative" if m["relative"] else "not rel."
                cells.append(f"{verdict:<9} {m['relative_error']:>8.1e}    ")
                ok &= agrees(m["relative"], m["relative_error"])
                orth = None if m["orthogonality_error"] is None else max(orth, m["orthogonality_error"])
                fast = max(fast, m["fast_vs_dense"])
            orth_cell = "not a rot." if orth is None else f"{orth:.1e}"
            lines.append(
                f"{row.label:<16} {k:>2}  "
                + "  ".join(cells)
                + f"  {orth_cell:>13}  {fast:>10.1e}  "
                + ("yes" if ok else "NO")
            )
            all_agree &= ok
    return lines, all_agree


def footer(ok: bool) -> str:
    return (
        f"relative: error <= {RELATIVE_TOL:g}; not relative: error > {VIOLATION_TOL:g}. Positions uniform in "
        "[-16, 16]^n (families on unit positions, such as liere: [-1, 1]^n); errors in float64.\n"
        + ("theory and measurement agree on every row." if ok else "theory and measurement DISAGREE on some rows.")
    )
