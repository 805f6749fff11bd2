"""The training configuration and its command line (training/config.py, commands/flags.py, commands/train.py):
the seed's command lines verbatim, every flag with dashes or underscores, and command_line(cfg) giving back
the config it was made from."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from commands import flags
from commands import train as command
from training import models
from training.config import DEFAULT_OUT, TrainConfig, command_line, is_flag, run_paths


def flag_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if is_flag(f)]


def test_seed_command_line_is_accepted():
    argv = (
        "--optimizer adamw --epochs 25 --run_id vit_rope_2D_axial_3x3_0_cifar10 --model "
        "vit_rope_2D_axial_3x3_0_cifar10 --input_size 36 --cuda --distributed --world_size 4 "
        "--batch_size 64 --lr 0.001"
    ).split()
    cfg = command.parse(argv)
    assert (cfg.cuda, cfg.distributed, cfg.world_size, cfg.input_size, cfg.amp) == (True, True, 4, 36, True)
    assert cfg.command == "rope-blocks train " + " ".join(argv)


def test_no_flags_give_the_config_defaults():
    cfg = command.parse([])
    assert cfg == TrainConfig(command="rope-blocks train")
    assert cfg.out == str(DEFAULT_OUT) and Path(cfg.out).parts[-2:] == ("runs", "train")
    assert (cfg.run_id, cfg.amp, cfg.resume, cfg.progress) == (cfg.model, False, None, True)


def test_every_field_is_a_flag_with_its_help():
    p = flags.Parser(prog="x")
    flags.add_dataclass_arguments(p, TrainConfig)
    dests = {a.dest: a for a in p._actions if a.dest != "help"}
    assert set(dests) == {f.name for f in flag_fields()}
    for f in flag_fields():
        assert dests[f.name].help and f.metadata["help"] in dests[f.name].help, f.name
    assert "command" not in dests  # the recorded command line is no flag


@pytest.mark.parametrize(
    "dashed, underscored, field, value",
    [
        (["--batch-size", "7"], ["--batch_size", "7"], "batch_size", 7),
        (["--run-id", "x"], ["--run_id", "x"], "run_id", "x"),
        (["--world-size", "3"], ["--world_size", "3"], "world_size", 3),
        (["--input-size", "12"], ["--input_size", "12"], "input_size", 12),
        (["--warmup-epochs", "0.5"], ["--warmup_epochs", "0.5"], "warmup_epochs", 0.5),
        (["--weight-decay", "0"], ["--weight_decay", "0"], "weight_decay", 0.0),
        (["--data-path", "d"], ["--data_path", "d"], "data_path", "d"),
        (["--num-workers", "0"], ["--num_workers", "0"], "num_workers", 0),
        (["--no-progress"], ["--no_progress"], "progress", False),
    ],
)
def test_every_flag_takes_dashes_and_underscores(dashed, underscored, field, value):
    a, b = command.parse(dashed), command.parse(underscored)
    assert getattr(a, field) == getattr(b, field) == value
    assert dataclasses.replace(a, command="") == dataclasses.replace(b, command="")


def test_resume_amp_and_dropout():
    assert command.parse(["--resume"]).resume == "auto"
    assert command.parse(["--resume", "runs/x/best.pt"]).resume == "runs/x/best.pt"
    assert command.parse(["--cuda"]).amp is True and command.parse(["--cuda", "--no-amp"]).amp is False
    assert command.parse(["--amp"]).amp is True and command.parse([]).dropout is None
    assert command.parse(["--dropout", "0"]).dropout == 0.0


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {
            "model": "vit_commuting_mixed_rope_2D_4x4_digits",
            "dataset": "digits",
            "epochs": 3,
            "lr": 0.003,
            "seed": 4,
            "run_id": "r",
            "progress": False,
            "num_workers": 0,
            "out": "/tmp/somewhere",
        },
        {"cuda": True, "distributed": True, "world_size": 4, "input_size": 36, "batch_size": 64, "compile": True},
        {"cuda": True, "amp": False, "dropout": 0.0, "resume": "auto", "weight_decay": 0.0, "warmup_epochs": 0.5},
        {"amp": True, "resume": "runs/train/runs/digits/r/best.pt", "optimizer": "sgd", "data_path": "elsewhere"},
        {"overwrite": True, "dataset": "probe_quadrant", "model": "vit_no_rope_probe_quadrant"},
    ],
)
def test_command_line_gives_back_its_config(changes):
    cfg = TrainConfig(**changes)
    line = command_line(cfg)
    argv = shlex.split(line)
    assert argv[:4] == ["rope-blocks", "train", "--model", cfg.model]
    again = command.parse(argv[2:])
    assert dataclasses.replace(again, command="") == dataclasses.replace(cfg, command="")
    assert again.command == line
    # Only what differs from the defaults (amp's follows --cuda), one word per switch, two per value.
    default = TrainConfig(model=cfg.model, cuda=cfg.cuda)
    differ = [
        f.name
        for f in flag_fields()
        if f.name != "model" and (getattr(cfg, f.name) != getattr(default, f.name) or f.name == "cuda" and cfg.cuda)
    ]
    assert len(argv) == 4 + sum(
        1 if isinstance(getattr(cfg, k), bool) or (k, cfg.resume) == ("resume", "auto") else 2 for k in differ
    ), line


def test_run_paths():
    cfg = TrainConfig(model="vit_no_rope_digits", dataset="digits", out="/o", run_id="r")
    assert run_paths(cfg) == (Path("/o/runs/digits/r"), Path("/o/results/digits/r.json"))
    probe = TrainConfig(dataset="probe_quadrant", out="/o", run_id="s")
    assert run_paths(probe) == (
        Path("/o/runs/probes/probe_quadrant/s"),
        Path("/o/results/probes/probe_quadrant/s.json"),
    )


def test_list_models_prints_every_size(capsys):
    assert command.parse(["--list-models"]) is None
    out = capsys.readouterr().out
    assert all(f"{size}:\n" in out for size in models.SIZES)
    assert all(f"  {name}\n" in out for name in models.REGISTRY)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--batch-size", "many"], ["--batch-size", "invalid int value: 'many'"]),
        (["--optimizer", "lion"], ["--optimizer", "invalid choice: 'lion'"]),
        (["--dataset", "mnist"], ["--dataset", "invalid choice: 'mnist'"]),
        (["--seeds", "3"], ["unrecognized arguments: --seeds"]),
    ],
)
def test_bad_flags_are_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        command.parse(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "rope-blocks train: error: " in err and all(w in err for w in words), err


def test_parser_accepts_both_spellings_and_shows_the_dashed_one():
    p = flags.parser("prog", "A tool.\n\nMore words.")
    p.add_argument("--head_dim", type=int, default=1)
    p.add_argument("--num-heads", type=int, default=2)
    p.add_argument("--seed", type=int, default=3)
    assert p.description == "A tool."
    assert vars(p.parse_args(["--head-dim", "5", "--num_heads", "6"])) == {"head_dim": 5, "num_heads": 6, "seed": 3}
    assert vars(p.parse_args(["--head_dim", "7", "--num-heads", "8"])) == {"head_dim": 7, "num_heads": 8, "seed": 3}
    options = {a.dest: a.option_strings for a in p._actions}
    assert options["head_dim"] == ["--head-dim", "--head_dim"]
    assert options["num_heads"] == ["--num-heads", "--num_heads"]
    assert options["seed"] == ["--seed"]


def test_dataclass_flags_of_every_kind(capsys):
    @dataclasses.dataclass
    class Options:
        size: int = dataclasses.field(default=3, metadata={"help": "a size", "choices": (1, 3, 5)})
        on: bool = dataclasses.field(default=True, metadata={"help": "be on"})
        off: bool = False
        maybe: bool | None = None
        name: str | None = None
        hidden: str = dataclasses.field(default="h", metadata={"flag": None})

    p = flags.Parser(prog="opts")
    flags.add_dataclass_arguments(p, Options)
    assert vars(p.parse_args([])) == {"size": 3, "on": True, "off": False, "maybe": None, "name": None}
    args = vars(p.parse_args(["--size", "5", "--no-on", "--off", "--no-maybe", "--name", "n"]))
    assert args == {"size": 5, "on": False, "off": True, "maybe": False, "name": "n"}
    assert vars(p.parse_args(["--no_on", "--maybe"]))["maybe"] is True
    with pytest.raises(SystemExit):
        p.parse_args(["--size", "4"])
    with pytest.raises(SystemExit):
        p.parse_args(["--hidden", "x"])
    assert "opts: error: " in capsys.readouterr().err


def test_resume_points_at_a_run_in_the_former_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    former = tmp_path / "runs" / "digits" / "vit_rope_2D_axial_2x2_digits" / "last.pt"
    former.parent.mkdir(parents=True)
    former.write_bytes(b"a checkpoint of the former default --out .")
    argv = ["--model", "vit_rope_2D_axial_2x2_digits", "--dataset", "digits", "--resume"]
    assert command.main(argv) == 2
    err = capsys.readouterr().err
    assert "runs/digits/vit_rope_2D_axial_2x2_digits/last.pt holds one" in err and "Pass --out . to continue" in err
    assert former.read_bytes() == b"a checkpoint of the former default --out ."
