"""The trainer as users start it (subprocesses, CPU, gloo): torchrun and local workers agree with one
process, and a run killed with SIGKILL in the middle of an epoch resumes to the same weights."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import PYTHON, REPO, cpu_env

MODEL = "vit_commuting_mixed_rope_2D_4x4_digits"  # learned frequencies and a Stiefel basis: both optimizers


def train_args(out: Path, cifar_root: Path, *extra: str) -> list[str]:
    return [
        "--model",
        MODEL,
        "--dataset",
        "cifar10",
        "--data_path",
        str(cifar_root),
        "--input_size",
        "8",
        "--epochs",
        "2",
        "--lr",
        "0.003",
        "--seed",
        "7",
        "--num_workers",
        "0",
        "--run_id",
        "r",
        "--out",
        str(out),
        "--no_progress",
        *extra,
    ]


def weights(out: Path) -> dict:
    return torch.load(out / "runs/cifar10/r/last.pt", weights_only=True)["model"]


def check(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def history(out: Path) -> list[dict]:
    timing = ("images_per_sec", "train_seconds")
    result = json.loads((out / "results/cifar10/r.json").read_text())
    return [{k: v for k, v in h.items() if k not in timing} for h in result["history"]]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, cifar_root) -> Path:
    out = tmp_path_factory.mktemp("one")
    check(
        subprocess.run(
            [PYTHON, "-m", "commands", "train", *train_args(out, cifar_root, "--batch_size", "8", "--dropout", "0")],
            cwd=REPO,
            env=cpu_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    return out


def assert_same_training(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    diff = max((wa[k].double() - wb[k].double()).abs().max().item() for k in wa)
    assert diff < 1e-5, diff
    for ha, hb in zip(history(a), history(b), strict=True):
        for key, value in ha.items():
            assert hb[key] == pytest.approx(value, abs=1e-5), key


def test_torchrun_two_processes_match_one_process_with_the_same_global_batch(tmp_path, cifar_root, one_process):
    torchrun = shutil.which("torchrun", path=str(Path(PYTHON).parent))
    assert torchrun, f"torch's torchrun command is missing beside {PYTHON}"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "commands",
        "train",
        *train_args(tmp_path, cifar_root, "--batch_size", "4", "--dropout", "0"),
    ]
    check(subprocess.run(cmd, cwd=REPO, env=cpu_env(), capture_output=True, text=True, timeout=300))
    result = json.loads((tmp_path / "results/cifar10/r.json").read_text())
    assert result["config"]["world_size"] == 2
    assert_same_training(one_process, tmp_path)


def test_local_workers_without_torchrun_match_one_process(tmp_path, cifar_root, one_process):
    cmd = [
        PYTHON,
        "-m",
        "commands",
        "train",
        *train_args(tmp_path, cifar_root, "--batch_size", "4", "--dropout", "0", "--distributed", "--world_size", "2"),
    ]
    check(subprocess.run(cmd, cwd=REPO, env=cpu_env(), capture_output=True, text=True, timeout=300))
    assert_same_training(one_process, tmp_path)


def test_sigkill_mid_epoch_then_resume_gives_the_same_weights(tmp_path, cifar_root):
    # Dropout stays on: resuming must also restore the random state.
    args = ["--batch_size", "2", "--input_size", "12", "--epochs", "3"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    check(
        subprocess.run(
            [PYTHON, "-m", "commands", "train", *train_args(whole, cifar_root, *args)],
            cwd=REPO,
            env=cpu_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    )

    last = killed / "runs/cifar10/r/last.pt"
    proc = subprocess.Popen(
        [PYTHON, "-m", "commands", "train", *train_args(killed, cifar_root, *args)],
        cwd=REPO,
        env=cpu_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # into epoch 2, whose 45 steps take well over a second
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate()[0]
    assert proc.returncode == -signal.SIGKILL, output
    assert torch.load(last, weights_only=True)["epoch"] == 1, "the kill should land inside epoch 2"

    check(
        subprocess.run(
            [PYTHON, "-m", "commands", "train", *train_args(killed, cifar_root, *args, "--resume")],
            cwd=REPO,
            env=cpu_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    wa, wb = weights(whole), weights(killed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "resumed weights differ from the uninterrupted run"
    assert history(whole) == history(killed)
