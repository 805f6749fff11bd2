"""`rope-blocks check`: every registered family and block size, theory's verdict next to the measurement.

Exit status 1 when any row disagrees (rope_blocks/check.py says how a row is measured).
"""

from __future__ import annotations

import sys

from rope_blocks import check

from .flags import parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    rows = check.rows()
    p = parser("rope-blocks check", __doc__)
    p.add_argument("--head-dim", type=int, default=24, help="head width D (default 24: k = 2, 3, 4, 6, 8 divide it)")
    p.add_argument("--num-heads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--families",
        nargs="+",
        metavar="NAME",
        choices=sorted({r.label for r in rows} | {r.family for r in rows}),
        help="only these rows (a family, or a family_design label such as commuting_axial); default: all",
    )
    args = p.parse_args(argv)
    if args.head_dim < 8 * len(check.AXES):
        p.error(f"--head-dim must be at least {8 * len(check.AXES)} so that every axis gets an 8 x 8 block")
    lines, ok = check.table(args.head_dim, args.num_heads, args.seed, args.families)
    print("\n".join(lines))
    print("\n" + check.footer(ok))
    return 0 if ok else 1
