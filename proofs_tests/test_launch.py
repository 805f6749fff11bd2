"""Starting a run (training/launch.py: validate): every bad flag is refused before training with a message
that names the flag and the fix, and nothing is written."""

from __future__ import annotations

import pytest
import torch
from conftest import train, train_error

from commands import train as command

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_unknown_model_suggests_the_closest(tmp_path, cifar_root, capsys):
    assert train(tmp_path, cifar_root, model="vit_rope_2D_axial_2x2_cifar") == 2
    assert "Did you mean 'vit_rope_2D_axial_2x2_cifar10'" in train_error(capsys)


def test_missing_dataset_offline_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    import torchvision.datasets.cifar

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    code = command.main(
        [
            "--model",
            "vit_no_rope_cifar10",
            "--data_path",
            str(tmp_path / "nowhere"),
            "--no_progress",
            "--out",
            str(tmp_path),
        ]
    )
    err = train_error(capsys)
    assert code == 2 and "cifar-10-python.tar.gz" in err and str(tmp_path / "nowhere") in err


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--batch_size", "91"], "larger than the 90 training images"),
        (["--distributed", "--world_size", "4096"], "--world-size 4096 is larger than"),
        (["--world_size", "2"], "needs --distributed"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_flags(tmp_path, cifar_root, capsys, flags, needle):
    assert train(tmp_path, cifar_root, *flags) == 2
    assert needle in train_error(capsys)
    assert not (tmp_path / "results").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu(tmp_path, cifar_root, capsys):
    assert train(tmp_path, cifar_root, "--cuda") == 2
    assert "--cuda was given but no CUDA GPU" in train_error(capsys)
