"""`rope-blocks export`: a trained relative run as plain 2x2 RoPE (RoPE-Mixed) with folded projections.

    rope-blocks export runs/train/runs/digits/<run_id>/best.pt --out exported.pt
    rope-blocks export runs/train/runs/digits/<run_id>/best.pt --to timm --out exported.pth

Writes the exported checkpoint (loadable by training.checkpoint.load_run, like any run's) and beside
it a JSON report with the frequency tables and the largest logit difference on the test split; prints
the test accuracy of both models and exits 1 if they differ. ``--to timm`` writes timm's own RoPE-Mixed
ViT instead: its state dict, and beside it a JSON with the ``timm.create_model`` name and arguments
(load it with timm alone: ``timm.create_model(name, **kwargs)``, then ``load_state_dict``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from training import data
from training.export import TARGETS, export_checkpoint

from .flags import parser

PROG = "rope-blocks export"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser(PROG, __doc__)
    p.add_argument("checkpoint", type=Path, help="a run's checkpoint, e.g. runs/train/runs/digits/<run_id>/best.pt")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the exported checkpoint; its report goes beside it with the suffix .json",
    )
    p.add_argument(
        "--dataset",
        default=None,
        choices=data.DATASETS,
        help="test split to compare the models on (default: the run's own data set)",
    )
    p.add_argument(
        "--to",
        default="rope-blocks",
        choices=TARGETS,
        help="rope-blocks: this project's ViT with 2x2 RoPE-Mixed (a run checkpoint); timm: timm's own "
        "RoPE-Mixed ViT (a state dict for timm.create_model, the name and arguments in the JSON beside it)",
    )
    p.add_argument("--data-path", default=None, help="folder holding the data set files (default: the run's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = p.parse_args(argv)
    try:
        r = export_checkpoint(
            args.checkpoint,
            args.out,
            to=args.to,
            dataset=args.dataset,
            data_path=args.data_path,
            overwrite=args.overwrite,
            command=shlex.join(["rope-blocks", "export", *argv]),
        )
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    target = "timm's RoPE-Mixed ViT" if args.to == "timm" else "2x2 RoPE-Mixed"
    print(f"{args.checkpoint} ({r.family}, block_size {r.block_size}) -> {args.out} ({target})")
    print(
        f"test accuracy on {r.dataset} ({r.test_images} images): before {r.before:.4f}, after {r.after:.4f}; "
        f"max logit difference {r.difference:.2e}; report {r.path}"
    )
    if r.before != r.after:
        print(
            f"{PROG}: the exported model's test accuracy differs from the original's; it is not equivalent.",
            file=sys.stderr,
        )
        return 1
    return 0
