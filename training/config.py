"""The training configuration, declared once: the trainer reads it and the command line is made from it.

Each field's ``metadata["help"]`` is its flag's help text (commands.flags builds the parser). The
flags are the seed's (``--model``, ``--run_id``, ``--batch_size``, ``--world_size``, ``--cuda``,
``--distributed``, ...), spelled with dashes or underscores alike.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from records.provenance import HOME, RUNS

from . import data
from .optim import OPTIMIZERS

DEFAULT_OUT = RUNS / "train"
SELECTIONS = ("val_acc", "val_loss", "last")
DEFAULT_DATA = HOME / "data"


def _opt(default, help_: str, **meta):
    return field(default=default, metadata={"help": help_, **meta})


@dataclass
class TrainConfig:
    model: str = _opt("vit_rope_2D_axial_2x2_cifar10", "a registered model name (see --list-models)")
    dataset: str = _opt("cifar10", "the data set", choices=data.DATASETS)
    data_path: str = _opt(str(DEFAULT_DATA), "folder holding (or receiving) the data set files")
    input_size: int | None = _opt(
        None,
        "resize images to this side (default: the data set's own, 32 for CIFAR; the "
        "seed's 36/40 only sized its coordinate grid, so leave it out to train the "
        "seed's models on 32x32)",
    )
    optimizer: str = _opt("adamw", "the optimizer of the Euclidean weights", choices=OPTIMIZERS)
    epochs: int = _opt(25, "epochs to train")
    batch_size: int = _opt(64, "images per step and process, as in the seed")
    lr: float = _opt(1e-3, "peak learning rate (cosine schedule with warmup)")
    weight_decay: float = _opt(0.01, "AdamW weight decay of the weight matrices")
    warmup_epochs: float = _opt(1.0, "linear warmup, in epochs")
    dropout: float | None = _opt(None, "override the model's dropout")
    select: str = _opt(
        "val_acc",
        "the epoch best.pt holds and the result reports: the first of the highest validation accuracy, "
        "the first of the lowest validation loss, or the last",
        choices=SELECTIONS,
    )
    seed: int = _opt(0, "seed of the initial weights, the batch order and the generated data")
    run_id: str | None = _opt(None, "names the outputs (default: the model name)")
    cuda: bool = _opt(False, "train on CUDA GPUs")
    distributed: bool = _opt(False, "start --world-size local processes (not needed under torchrun)")
    world_size: int | None = _opt(None, "processes of a --distributed run")
    num_workers: int = _opt(2, "data loader processes")
    amp: bool | None = _opt(None, "bf16 autocast (default: on with --cuda, off on the CPU)")
    compile: bool = _opt(False, "torch.compile the model")
    resume: str | None = _opt(
        None,
        "continue the run from its last checkpoint (or from CHECKPOINT)",
        nargs="?",
        const="auto",
        metavar="CHECKPOINT",
    )
    overwrite: bool = _opt(False, "replace the outputs of an earlier run with this --run-id")
    out: str = _opt(str(DEFAULT_OUT), "root of runs/ (checkpoints) and results/ (result files)")
    progress: bool = _opt(True, "show a progress bar")
    max_images: int | None = _opt(
        None,
        "use at most this many images of each split (a fixed subset): a quick look at the pipeline, never a result",
    )
    command: str = field(default="", metadata={"flag": None})  # the command line, recorded in the result file

    def __post_init__(self):
        if self.select not in SELECTIONS:
            raise ValueError(f"select={self.select!r} is not one of {', '.join(SELECTIONS)}.")
        if self.run_id is None:
            self.run_id = self.model
        if self.amp is None:
            self.amp = self.cuda


def saved_setting(saved: dict, key: str):
    """One setting of a run's saved config; a setting the file predates had its default then (amp: off)."""
    return saved[key] if key in saved else getattr(TrainConfig(model="", run_id=""), key, None)


def is_flag(f: dataclasses.Field) -> bool:
    """Whether a TrainConfig field is set on the command line (``metadata["flag"] = None``: it is not)."""
    return f.metadata.get("flag", "") is not None


def command_line(cfg: TrainConfig) -> str:
    """The `rope-blocks train` command that gives ``cfg``: its fields that differ from the defaults."""
    default = TrainConfig(model=cfg.model, amp=cfg.cuda)  # run_id and amp default to the model and --cuda
    argv = ["rope-blocks", "train", "--model", cfg.model]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(cfg, f.name)
        if not is_flag(f) or f.name == "model" or value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")  # as commands.flags spells it
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{flag[2:]}")
        elif f.name == "resume" and value == "auto":
            argv.append(flag)
        else:
            argv += [flag, str(value)]
    return shlex.join(argv)


def run_paths(cfg: TrainConfig) -> tuple[Path, Path]:
    """(run folder with checkpoints and metrics, result file)."""
    out, folder = Path(cfg.out), data.results_folder(cfg.dataset)
    return out / "runs" / folder / cfg.run_id, out / "results" / folder / f"{cfg.run_id}.json"
