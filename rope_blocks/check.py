"""`rope-blocks check`: every family and block size, theory's verdict next to the measurement.

A row per family (and design) and k; for each n_axes the theory verdict and the measured
relative error, then the worst orthogonality and fast-vs-dense errors over n_axes. The last
column says whether measurement and theory agree: relative means error <= 1e-5, not relative
means error > 1e-3. Exit status 1 when any row disagrees.
"""
from __future__ import annotations

import argparse
import sys

import torch

from .metrics import fast_vs_dense_error, orthogonality_error, relative_error
from .registry import build

RELATIVE_TOL = 1e-5
VIOLATION_TOL = 1e-3
# (label, family, options, block sizes); liere is measured at LieRE's normalised positions.
ROWS = [
    ("none", "none", {}, (2,)),
    ("axial", "axial", {}, (2,)),
    ("mixed", "mixed", {}, (2,)),
    ("givens", "givens", {}, range(2, 9)),
    ("weighted", "weighted", {}, range(2, 9)),
    ("commuting/axial", "commuting", {"design": "axial"}, range(2, 9)),
    ("commuting/mixed", "commuting", {"design": "mixed"}, range(2, 9)),
    ("liere", "liere", {}, range(2, 9)),
]
AXES = (1, 2, 3)


def agrees(relative: bool, error: float) -> bool:
    return error <= RELATIVE_TOL if relative else error > VIOLATION_TOL


def measure(family: str, options: dict, k: int, n_axes: int, head_dim: int, num_heads: int, seed: int) -> dict:
    torch.manual_seed(seed)
    enc = build(family, head_dim=head_dim, num_heads=num_heads, n_axes=n_axes, block_size=k, **options)
    extent = 1.0 if family == "liere" else 16.0
    return {
        "relative": enc.relative,
        "relative_error": relative_error(enc, seed=seed, extent=extent),
        "orthogonality_error": orthogonality_error(enc, seed=seed, extent=extent) if family != "weighted" else None,
        "fast_vs_dense": fast_vs_dense_error(enc, seed=seed, extent=extent),
    }


def table(head_dim: int, num_heads: int, seed: int, labels=None) -> tuple[list[str], bool]:
    header = f"{'family':<16} {'k':>2}  " + "  ".join(f"{'n=' + str(n) + ' theory, measured':<22}" for n in AXES)
    header += f"  {'orthogonality':>13}  {'fast-dense':>10}  agree"
    lines, all_agree = [header, "-" * len(header)], True
    for label, family, options, ks in ROWS:
        if labels and label not in labels and family not in labels:
            continue
        for k in ks:
            cells, orth, fast, ok = [], 0.0, 0.0, True
            for n in AXES:
                m = measure(family, options, k, n, head_dim, num_heads, seed)
                verdict = "relative" if m["relative"] else "not rel."
                cells.append(f"{verdict:<9} {m['relative_error']:>8.1e}    ")
                ok &= agrees(m["relative"], m["relative_error"])
                orth = None if m["orthogonality_error"] is None else max(orth, m["orthogonality_error"])
                fast = max(fast, m["fast_vs_dense"])
            orth_cell = "not a rot." if orth is None else f"{orth:.1e}"
            lines.append(f"{label:<16} {k:>2}  " + "  ".join(cells) + f"  {orth_cell:>13}  {fast:>10.1e}  "
                         + ("yes" if ok else "NO"))
            all_agree &= ok
    return lines, all_agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rope-blocks check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head-dim", type=int, default=24, help="head width D (default 24: k = 2, 3, 4, 6, 8 divide it)")
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", nargs="+", metavar="NAME", choices=sorted({r[0] for r in ROWS} | {r[1] for r in ROWS}),
                        help="only these rows (a family, or a family/design label); default: all")
    args = parser.parse_args(argv)
    if args.head_dim < 8 * len(AXES):
        parser.error(f"--head-dim must be at least {8 * len(AXES)} so that every axis gets an 8 x 8 block")
    lines, ok = table(args.head_dim, args.num_heads, args.seed, args.families)
    print("\n".join(lines))
    print(f"\nrelative: error <= {RELATIVE_TOL:g}; not relative: error > {VIOLATION_TOL:g}. Positions uniform in "
          "[-16, 16]^n (liere: [-1, 1]^n, its normalised convention); errors in float64.")
    print("theory and measurement agree on every row." if ok else "theory and measurement DISAGREE on some rows.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
