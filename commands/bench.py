"""`rope-blocks bench`: speed and memory benchmarks of the encodings and of training steps.

`rope-blocks bench encodings` times the rotated q and k of every family and block size;
`rope-blocks bench train` times training steps of the seed's and the matched models. Each writes
<out>/<device>-<name>.json (the committed ones: --out results/bench).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from benchmarks import bench_encodings, bench_train
from benchmarks.common import write_result
from records import provenance

from .flags import Parser, parser

PROG = "rope-blocks bench"
DEFAULT_OUT = provenance.REPO / "runs" / "bench"


def block_size(text: str) -> int | str:
    """A --block-sizes entry: an integer k >= 2, or D for the whole head."""
    if text == "D":
        return text
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not a block size; give integers >= 2 or D (the whole head)")
    return int(text)


def add_run_arguments(p: Parser, name: str | None, name_default: str = "%(default)s") -> None:
    """The options every benchmark takes: where it runs, how long it measures, where it writes.

    name: the default result name (<out>/<device>-<name>.json); None lets the benchmark choose,
    and ``name_default`` says how.
    """
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder of the result file (default: %(default)s; the committed results: results/bench)",
    )
    p.add_argument("--name", default=name, help=f"result file <out>/<device>-<name>.json (default: {name_default})")


def add_encodings(sub) -> Parser:
    p = sub.add_parser(
        "encodings",
        help="forward + backward of the rotated q and k, per family and block size",
        description=bench_encodings.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_run_arguments(p, name="encodings")
    p.add_argument(
        "--block-sizes",
        nargs="+",
        default=bench_encodings.BLOCK_SIZES,
        type=block_size,
        metavar="K",
        help="block sizes k to measure; D is the whole head (default: %(default)s)",
    )
    p.add_argument(
        "--labels",
        nargs="+",
        default=bench_encodings.LABELS,
        choices=bench_encodings.LABELS,
        metavar="LABEL",
        help="rows to measure, axial first (it is the baseline); default all: %(default)s",
    )
    return p


def add_train(sub) -> Parser:
    p = sub.add_parser(
        "train",
        help="training steps: images/s, memory, FLOPs, attention kernel, MFU",
        description=bench_train.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_run_arguments(p, name=None, name_default="train, or train-fold with --fold")
    p.add_argument("--models", choices=bench_train.SUITES, default="all")
    p.add_argument(
        "--fold",
        action="store_true",
        help="also measure each model with a learned plane basis folded into W_q and W_k "
        "(implied by --models fold); default --name train-fold",
    )
    p.add_argument(
        "--compile",
        choices=tuple(bench_train.COMPILE_MODES),
        default=None,
        help="torch.compile the model (default: both on CUDA, off on CPU)",
    )
    p.add_argument(
        "--compile-models",
        choices=bench_train.COMPILE_SUITES,
        default="all",
        help="which of --models are also measured compiled (each compile costs tens of seconds)",
    )
    return p


def setup_device(args: argparse.Namespace, p: Parser) -> torch.device:
    """Check the options of ``add_run_arguments`` and set the device up."""
    try:
        device = torch.device(args.device)
    except RuntimeError:
        p.error(f"--device {args.device!r} is not a device; use cpu or cuda (or cuda:N)")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but no CUDA device is visible; run on a GPU machine or use --device cpu")
    if args.batch < 1 or args.reps < 1 or args.warmup < 0:
        p.error("--batch and --reps must be >= 1 and --warmup >= 0")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1 (or left out for torch's choice)")
    if args.threads:
        torch.set_num_threads(args.threads)
    return device


def encodings(args: argparse.Namespace, p: Parser) -> tuple[str, torch.device, dict, str]:
    """Run ``rope-blocks bench encodings``: (result name, device, payload, report)."""
    if args.labels[0] != "axial":
        p.error("--labels must start with axial: every ratio is to axial 2x2 measured in the same run")
    device = setup_device(args, p)
    payload = bench_encodings.benchmark(device, args.batch, args.warmup, args.reps, args.labels, args.block_sizes)
    return args.name, device, payload, bench_encodings.report(payload)


def train(args: argparse.Namespace, p: Parser) -> tuple[str, torch.device, dict, str]:
    """Run ``rope-blocks bench train``: (result name, device, payload, report)."""
    device = setup_device(args, p)
    fold = args.fold or args.models == "fold"
    payload = bench_train.benchmark(
        device, args.batch, args.warmup, args.reps, args.models, args.compile, args.compile_models, fold
    )
    return args.name or ("train-fold" if fold else "train"), device, payload, bench_train.report(payload)


def build_parser() -> Parser:
    p = parser(PROG, __doc__)
    sub = p.add_subparsers(dest="benchmark", required=True, metavar="{encodings,train}")
    for add, run in ((add_encodings, encodings), (add_train, train)):
        subparser = add(sub)
        # an error names the subcommand's own usage, whose options it is about
        subparser.set_defaults(run=run, parser=subparser)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    name, device, payload, report = args.run(args, args.parser)
    path = write_result(name, device, payload, args.out, ["rope-blocks", "bench", *argv])
    print(report)
    print(f"\nwrote {path}")
    return 0
