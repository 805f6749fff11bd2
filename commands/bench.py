"""`rope-blocks bench`: speed and memory benchmarks of the encodings and of training steps.

`rope-blocks bench encodings` times the rotated q and k of every family and block size;
`rope-blocks bench train` times training steps of the seed's and the matched models;
`rope-blocks bench step` sets one shape's training step against the matmul peak measured in the same
process and against timm's RoPE-Mixed ViT. Each writes <out>/<device>-<name>.json (the committed
ones: --out results/bench).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from benchmarks import bench_encodings, bench_step, bench_train
from benchmarks.common import write_result
from records import provenance
from records.model_id import Variant

from .flags import Parser, parser

PROG = "rope-blocks bench"
DEFAULT_OUT = provenance.RUNS / "bench"


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
    p.add_argument("--overwrite", action="store_true", help="replace an existing result file")


def subcommand(sub, name: str, module, help_: str) -> Parser:
    """A benchmark's subparser: its module's docstring as the description, no abbreviated flags."""
    return sub.add_parser(
        name,
        help=help_,
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )


def add_encodings(sub) -> Parser:
    p = subcommand(
        sub, "encodings", bench_encodings, "forward + backward of the rotated q and k, per family and block size"
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
    p = subcommand(sub, "train", bench_train, "training steps: images/s, memory, FLOPs, attention kernel, MFU")
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


def add_step(sub) -> Parser:
    p = subcommand(
        sub,
        "step",
        bench_step,
        "one shape's training step: FLOP/s against this process's matmul peak, and against timm's model",
    )
    add_run_arguments(p, name=None, name_default="step-<shape>")
    p.set_defaults(batch=None, reps=5, warmup=1, threads=1)  # the trainer's zoo runs one thread per process
    p.add_argument("--shape", choices=tuple(bench_step.SHAPES), default="fashion", help="default: %(default)s")
    p.add_argument(
        "--models",
        nargs="+",
        default=list(bench_step.MODELS),
        metavar="VARIANT",
        help="variant names (records.model_id), default: %(default)s",
    )
    p.add_argument("--precisions", nargs="+", choices=bench_step.PRECISIONS, default=list(bench_step.PRECISIONS))
    p.add_argument("--dropouts", nargs="+", type=float, default=[0.0, 0.1], metavar="P")
    p.add_argument("--recipes", nargs="+", choices=tuple(bench_step.RECIPES), default=list(bench_step.RECIPES))
    p.add_argument(
        "--compile-dropouts",
        nargs="*",
        type=float,
        default=[0.0],
        metavar="P",
        help="dropout rates that also run the compiled recipe (each compile takes tens of seconds; default 0)",
    )
    p.add_argument("--no-fold", action="store_true", help="leave out the folded rows of models with a learned basis")
    p.add_argument("--no-timm", action="store_true", help="leave out timm's model (and the ratios to it)")
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


def step(args: argparse.Namespace, p: Parser) -> tuple[str, torch.device, dict, str]:
    """Run ``rope-blocks bench step``: (result name, device, payload, report)."""
    shape = bench_step.SHAPES[args.shape]
    if args.batch is not None and args.batch >= 1:
        shape = dataclasses.replace(shape, batch=args.batch)
    args.batch = shape.batch if args.batch is None else args.batch
    for name in args.models:
        try:
            Variant.parse(name)
        except ValueError as e:
            p.error(f"--models: {e}")
    if any(not 0 <= d <= 1 for d in (*args.dropouts, *args.compile_dropouts)):
        p.error("--dropouts and --compile-dropouts are probabilities in [0, 1]")
    device = setup_device(args, p)
    payload = bench_step.benchmark(
        shape,
        device,
        args.warmup,
        args.reps,
        args.models,
        args.precisions,
        args.dropouts,
        args.recipes,
        fold=not args.no_fold,
        timm=not args.no_timm,
        compile_dropouts=tuple(args.compile_dropouts),
        log=lambda line: print(line, flush=True),
    )
    return args.name or f"step-{args.shape}", device, payload, bench_step.report(payload)


def build_parser() -> Parser:
    p = parser(PROG, __doc__)
    sub = p.add_subparsers(dest="benchmark", required=True, metavar="{encodings,train,step}")
    for add, run in ((add_encodings, encodings), (add_train, train), (add_step, step)):
        subparser = add(sub)
        # an error names the subcommand's own usage, whose options it is about
        subparser.set_defaults(run=run, parser=subparser)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        provenance.check_writable(args.out)
        name, device, payload, report = args.run(args, args.parser)
        path = write_result(name, device, payload, args.out, ["rope-blocks", "bench", *argv], args.overwrite)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(report)
    print(f"\nwrote {path}")
    return 0
