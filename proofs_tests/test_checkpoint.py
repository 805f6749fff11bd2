"""Checkpoints (training/checkpoint.py) and resuming: earlier outputs are never overwritten unasked, a corrupt
checkpoint is named and the older one kept, and a checkpoint of other settings is refused."""

from __future__ import annotations

import json

import pytest
from conftest import train, train_error

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_existing_outputs_are_not_overwritten(tmp_path, cifar_root, capsys):
    assert train(tmp_path, cifar_root, epochs=1) == 0
    result = tmp_path / "results/cifar10/r.json"
    before = result.read_text()
    assert train(tmp_path, cifar_root, epochs=1) == 2
    assert "--resume" in train_error(capsys) and result.read_text() == before
    # Asking for more epochs than the checkpoint was made for is a different run.
    assert train(tmp_path, cifar_root, "--resume", epochs=3) == 2
    assert "epochs: checkpoint 1, now 3" in train_error(capsys) and result.read_text() == before
    assert train(tmp_path, cifar_root, "--overwrite", "--seed", "5", epochs=1) == 0
    assert json.loads(result.read_text())["seed"] == 5


def test_corrupt_checkpoint_is_named_and_the_older_one_kept(tmp_path, cifar_root, capsys):
    assert train(tmp_path, cifar_root) == 0
    last, best = tmp_path / "runs/cifar10/r/last.pt", tmp_path / "runs/cifar10/r/best.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a full disk
    best_bytes = best.read_bytes()
    assert train(tmp_path, cifar_root, "--resume") == 2
    err = train_error(capsys)
    assert f"checkpoint {last} cannot be used" in err and f"--resume {best}" in err
    assert last.stat().st_size == 1000 and best.read_bytes() == best_bytes
    # Resuming from the named older checkpoint works.
    assert train(tmp_path, cifar_root, "--resume", str(best)) == 0


def test_mismatched_checkpoint_is_refused(tmp_path, cifar_root, capsys):
    assert train(tmp_path, cifar_root, epochs=1) == 0
    assert train(tmp_path, cifar_root, "--resume", "--lr", "0.01", epochs=1) == 2
    assert "lr: checkpoint 0.001, now 0.01" in train_error(capsys)
