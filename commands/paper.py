"""`rope-blocks paper`: write the paper's tables and figures from the result files, and compile its PDF.

    rope-blocks paper --out paper              # results/ -> paper/generated/, paper/build/rope-blocks.pdf (make paper)
    rope-blocks paper --no-pdf                 # only the generated files, under runs/paper/
    rope-blocks paper --results DIR --out DIR  # another results folder; the paper built under DIR

For --out DIR other than paper/ (by default runs/paper/), main.tex and references.bib are copied
from paper/ into DIR (those two files are overwritten, nothing else), and generated/ and build/ go
under DIR: paper/ stays as it is. paper/build.py says where the numbers come from.
"""

from __future__ import annotations

import sys
from pathlib import Path

from paper import build
from records import provenance

from .flags import parser

DEFAULT_RESULTS = provenance.REPO / "results"
DEFAULT_OUT = provenance.RUNS / "paper"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser("rope-blocks paper", __doc__)
    p.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR", help="results folder (default: results/)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="where generated/ and build/ go (default: runs/paper/; `make paper` gives paper/); for a "
        "folder other than paper/, main.tex and references.bib are copied there from paper/ first",
    )
    p.add_argument("--no-pdf", action="store_true", help="write the generated files only")
    args = p.parse_args(argv)
    try:
        return build.build(args.results, args.out, pdf=not args.no_pdf)
    except ValueError as e:
        print(f"rope-blocks paper: error: {e}", file=sys.stderr)
        return 2
