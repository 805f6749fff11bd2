"""`rope-blocks train`: train one ViT. Accepts the seed's command lines verbatim (after the program name).

Under torchrun each process runs this command; `--distributed --world-size N` without torchrun
starts N local processes. See training/trainer.py for what a run writes.
"""

from __future__ import annotations

import shlex
import sys

from training import distributed, models
from training.config import NOT_FLAGS, TrainConfig
from training.launch import launch

from .flags import add_dataclass_arguments, parser

PROG = "rope-blocks train"


def parse(argv: list[str]) -> TrainConfig | None:
    """The config of a command line (None after --list-models)."""
    p = parser(PROG, __doc__)
    add_dataclass_arguments(p, TrainConfig, skip=NOT_FLAGS)
    p.add_argument("--list-models", action="store_true", help="print the registered model names and exit")
    args = vars(p.parse_args(argv))
    if args.pop("list_models"):
        for size in models.SIZES:
            print(f"{size}:\n  " + "\n  ".join(models.model_names(size)))
        return None
    return TrainConfig(**args, command=shlex.join(["rope-blocks", "train", *argv]))


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    cfg = parse(argv)
    if cfg is None:
        return 0
    try:
        return launch(cfg, on_error=_error)
    except ValueError as e:
        env = distributed.torchrun_env()
        if env is None or env[0] == 0:
            _error(str(e))
        return 2
