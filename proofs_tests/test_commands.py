"""The `rope-blocks` dispatcher (commands/__init__.py): a subcommand per job, usage on no arguments, and a
suggestion for a mistyped command. Each command's own options are tested with its module."""

from __future__ import annotations

import subprocess

import pytest
from conftest import PYTHON, REPO, cpu_env

import commands


def test_unknown_command_suggests_the_closest(capsys):
    assert commands.main(["chekc"]) == 2
    assert "Did you mean 'check'?" in capsys.readouterr().err


def test_prove_through_the_dispatcher():
    assert commands.main(["prove", "--only", "T10", "--no-write"]) == 0


def test_usage_lists_every_command(capsys):
    for argv in ([], ["--help"], ["-h"]):
        assert commands.main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: rope-blocks <command> [options]")
        assert all(f"  {name}" in out for name in commands.SUBCOMMANDS), out


@pytest.mark.parametrize("name", ["prove", "check", "train", "zoo", "export"])
def test_each_command_describes_its_options(name, capsys):
    with pytest.raises(SystemExit) as e:
        commands.main([name, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: rope-blocks {name}")


def test_python_dash_m_commands_passes_the_exit_status_on():
    proc = subprocess.run(
        [PYTHON, "-m", "commands", "chekc"], cwd=REPO, env=cpu_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "Did you mean 'check'?" in proc.stderr


def test_a_bad_flag_exits_2_with_the_usage_on_stderr(capsys):
    with pytest.raises(SystemExit) as e:
        commands.main(["check", "--bogus"])
    captured = capsys.readouterr()
    assert e.value.code == 2 and captured.out == ""
    assert "usage: rope-blocks check" in captured.err and "unrecognized arguments: --bogus" in captured.err


def test_bench_refuses_to_replace_a_result_and_an_unwritable_out(tmp_path, capsys):
    argv = ["bench", "encodings", "--batch", "1", "--reps", "1", "--warmup", "0", "--block-sizes", "2"]
    argv += ["--labels", "axial", "--out", str(tmp_path)]
    assert commands.main(argv) == 0
    written = tmp_path / "cpu-encodings.json"
    before = written.read_bytes()
    assert commands.main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and written.read_bytes() == before
    assert commands.main([*argv, "--overwrite"]) == 0
    assert commands.main([*argv[:-1], str(written / "under")]) == 2
    assert "cannot be written" in capsys.readouterr().err
