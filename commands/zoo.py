"""`rope-blocks zoo`: train a suite of models on offline data and tabulate it (training/suites.py).

Finished runs are read back, not trained again, so a killed zoo resumes where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from records.provenance import RUNS
from training import probe_suite, suites
from training.zoo import PROG, Zoo, run_zoo

from .flags import parser


def parse(argv: list[str]) -> Zoo:
    p = parser(PROG, __doc__)
    p.add_argument(
        "--suite",
        default="digits",
        choices=suites.SUITES,
        help="digits: the model comparison on the 8x8 digits; probes: the generated probe tasks "
        "and the verdicts of predictions P1-P3; fashion: the comparison on Fashion-MNIST, with resolution "
        "and translation tests",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a few models, one seed, few epochs (digits: one model per family; probes: "
        f"{', '.join(probe_suite.QUICK_VARIANTS)} on every task; fashion: three models for one epoch on "
        "1000 images per split)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="train these registered models instead (each on the data set its size trains on)",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="override every group's seeds")
    p.add_argument("--epochs", type=int, default=None, help="override every group's epochs")
    p.add_argument("--batch-size", type=int, default=None, help="default: the suite's (digits, probes 32; fashion 128)")
    p.add_argument(
        "--lr", type=float, default=None, help="default: the suite's (digits 3e-3; probes: each task's; fashion 1e-3)"
    )
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once, one CPU thread each")
    p.add_argument(
        "--data-path",
        default=None,
        help="folder of the data sets read from files (fashion: its "
        "FashionMNIST/raw/ cache or your own copy; default: the trainer's)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"root of runs/ and results/ (default: {RUNS}/zoo[-quick]-<suite>; the committed results: --out .)",
    )
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}.")
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}.")
    out = args.out or RUNS / f"zoo{'-quick' if args.quick else ''}-{args.suite}"
    groups = suites.select(args.suite, args.quick, args.models, args.seeds, args.epochs, args.lr)
    recipe = suites.RECIPES[args.suite]
    recipe = replace(recipe, batch_size=args.batch_size or recipe.batch_size, lr=args.lr or recipe.lr)
    return Zoo(args.suite, tuple(groups), out, recipe, args.jobs, args.data_path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        zoo = parse(argv)
        return run_zoo(zoo, ["rope-blocks", "zoo", *argv])
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
