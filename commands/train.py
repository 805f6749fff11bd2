"""`rope-blocks train`: train one ViT. Accepts the seed's command lines verbatim (after the program name).

Under torchrun each process runs this command; `--distributed --world-size N` without torchrun
starts N local processes. See training/trainer.py for what a run writes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from training import distributed, models
from training.config import TrainConfig, run_paths
from training.launch import launch

from .flags import add_dataclass_arguments, parser

PROG = "rope-blocks train"


def parse(argv: list[str]) -> TrainConfig | None:
    """The config of a command line (None after --list-models)."""
    p = parser(PROG, __doc__)
    add_dataclass_arguments(p, TrainConfig)
    p.add_argument("--list-models", action="store_true", help="print the registered model names and exit")
    args = vars(p.parse_args(argv))
    if args.pop("list_models"):
        for size in models.SIZES:
            print(f"{size}:\n  " + "\n  ".join(models.model_names(size)))
        return None
    cfg = TrainConfig(**args, command=shlex.join(["rope-blocks", "train", *argv]))
    _check_former_default(cfg, out_given=any(a == "--out" or a.startswith("--out=") for a in argv))
    return cfg


def _check_former_default(cfg: TrainConfig, out_given: bool) -> None:
    """A run started when --out defaulted to the current folder resumes there only when asked to."""
    if cfg.resume != "auto" or out_given:
        return
    run_dir = run_paths(cfg)[0]
    former = Path("runs") / run_dir.relative_to(Path(cfg.out) / "runs") / "last.pt"
    if former.is_file() and not (run_dir / "last.pt").exists():
        raise ValueError(
            f"--resume found no checkpoint in {run_dir}, but {former} holds one: --out used to default to the "
            "current folder. Pass --out . to continue that run."
        )


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        cfg = parse(argv)
        return 0 if cfg is None else launch(cfg, on_error=_error)
    except ValueError as e:
        env = distributed.torchrun_env()
        if env is None or env[0] == 0:
            _error(str(e))
        return 2
