"""`rope-blocks prove`: run the proofs T1..T10, print the theorem table, write results/theorems.json."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy
import scipy
import sympy

from .absorption import t5_absorption
from .certificate import Certificate
from .closed_forms import t8_closed_forms
from .counting import t10_counting
from .liere import t9_liere
from .relative import t1_sufficiency, t2_necessity
from .seed_blocks import t6_givens_blocks, t7_weighted_blocks
from .structure import t3_structure, t4_normal_form

THEOREMS = (
    t1_sufficiency, t2_necessity, t3_structure, t4_normal_form, t5_absorption,
    t6_givens_blocks, t7_weighted_blocks, t8_closed_forms, t9_liere, t10_counting,
)
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("results") / "theorems.json"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def format_table(certificates: list[Certificate], statement_width: int = 62, range_width: int = 30) -> str:
    """The theorem table, statements and ranges wrapped in their columns."""
    header = f"{'id':<4} {'statement':<{statement_width}} {'range':<{range_width}} {'verdict':<7} {'residual':>9} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for c in certificates:
        statement = textwrap.wrap(c.statement, statement_width)
        covers = textwrap.wrap(c.covers, range_width)
        for i in range(max(len(statement), len(covers))):
            first = i == 0
            lines.append(
                f"{c.id if first else '':<4} {statement[i] if i < len(statement) else '':<{statement_width}} "
                f"{covers[i] if i < len(covers) else '':<{range_width}}"
                + (f" {'proved' if c.verdict else 'FAILED':<7} {c.residual:>9.1e} {c.seconds:>8.2f}" if first else "")
            )
    return "\n".join(line.rstrip() for line in lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rope-blocks prove",
        description="Run the symbolic and numeric proofs T1..T10 of which block designs keep the relative property.",
    )
    parser.add_argument("--only", action="append", metavar="ID",
                        help="run only these theorems (e.g. --only T3, --only T1,T5); repeatable")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the certificates as JSON (default {DEFAULT_OUT}; a partial run "
                             "with --only writes only when --out is given)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    known = {f.theorem_id: f for f in THEOREMS}
    selected = list(THEOREMS)
    if args.only:
        wanted = [w.strip().upper() for item in args.only for w in item.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in known]
        if unknown:
            print(f"rope-blocks prove: unknown theorem id(s) {', '.join(unknown)}; the ids are {', '.join(known)}.",
                  file=sys.stderr)
            return 2
        selected = [known[w] for w in known if w in wanted]
    start = time.perf_counter()
    certificates = []
    for proof in selected:
        certificates.append(proof())
        print(f"  {certificates[-1].id} done in {certificates[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - start
    print(format_table(certificates))
    failed = [c for c in certificates if not c.verdict]
    for c in failed:
        print(f"{c.id} FAILED checks: {'; '.join(c.failed_checks())}")
    print(f"{len(certificates) - len(failed)}/{len(certificates)} proved in {total:.1f} s")
    out = args.out if args.out is not None else (None if args.only else DEFAULT_OUT)
    if args.no_write or out is None:
        if out is None and not args.no_write:
            print(f"partial run: not writing {DEFAULT_OUT} (pass --out PATH to write)")
        return 1 if failed else 0
    record = {
        "command": " ".join(["rope-blocks", "prove", *argv]),
        "commit": _git("rev-parse", "HEAD") or "unknown",
        # the proofs ran on code that differs from that commit (e.g. a run made before committing theory/)
        "theory_uncommitted": bool(_git("status", "--porcelain", "--", "theory")),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(total, 2),
        "python": platform.python_version(),
        "sympy": sympy.__version__,
        "scipy": scipy.__version__,
        "numpy": numpy.__version__,
        "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs",
        "theorems": [c.as_dict() for c in certificates],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0
