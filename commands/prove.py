"""`rope-blocks prove`: run the symbolic and numeric proofs T1..T10 of which block designs keep the relative property.

Prints the theorem table and writes the certificates (the committed ones: --out results/theorems.json).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from records import provenance
from theory import prove

from .flags import parser

DEFAULT_OUT = provenance.RUNS / "theorems.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser("rope-blocks prove", __doc__)
    p.add_argument(
        "--only",
        action="append",
        metavar="ID",
        help="run only these theorems (e.g. --only T3, --only T1,T5); repeatable",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the certificates as JSON (default {DEFAULT_OUT}; a partial run with --only "
        "writes only when --out is given)",
    )
    p.add_argument("--no-write", action="store_true", help="print the table only")
    p.add_argument("--overwrite", action="store_true", help="replace an existing certificates file")
    args = p.parse_args(argv)
    ids = [w for item in args.only for w in item.split(",") if w.strip()] if args.only else None
    out = args.out if args.out is not None else (None if args.only else DEFAULT_OUT)
    start = time.perf_counter()
    try:
        if out is not None and not args.no_write:
            provenance.check_new(out, args.overwrite)
        certificates = prove.run(ids)
    except ValueError as e:
        print(f"rope-blocks prove: error: {e}", file=sys.stderr)
        return 2
    total = time.perf_counter() - start
    print(prove.format_table(certificates))
    failed = [c for c in certificates if not c.verdict]
    for c in failed:
        print(f"{c.id} FAILED checks: {'; '.join(c.failed_checks())}")
    print(f"{len(certificates) - len(failed)}/{len(certificates)} proved in {total:.1f} s")
    if args.no_write or out is None:
        if out is None and not args.no_write:
            print("partial run: not writing the certificates (pass --out PATH to write)")
        return 1 if failed else 0
    provenance.write_json(prove.record(certificates, ["rope-blocks", "prove", *argv], total), out, indent=2)
    print(f"wrote {out}")
    return 1 if failed else 0
