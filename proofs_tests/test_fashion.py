"""Fashion-MNIST (training/fashion.py): the real loader on small IDX files the tests write, in the package's
gzipped form and in torchvision's layout, and the errors for missing, corrupt and mismatched files."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from training import data, fashion


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """The IDX encoding: a big-endian header (magic, then every dimension) and the unsigned bytes."""
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def fake_files(n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        out[f"{split}-images-idx3-ubyte"] = idx_bytes(rng.integers(0, 256, (n, 28, 28)), 2051)
        out[f"{split}-labels-idx1-ubyte"] = idx_bytes(np.arange(n) % 10, 2049)
    return out


def write_package(folder: Path, files: dict[str, bytes]) -> Path:
    """The files as Debian's package installs them: gzipped, in one folder."""
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(content))
    return folder


def write_raw(data_path: Path, files: dict[str, bytes]) -> Path:
    """The files in torchvision's layout, as a user's own copy."""
    raw = fashion.raw_folder(data_path)
    raw.mkdir(parents=True)
    for name, content in files.items():
        (raw / name).write_bytes(content)
    return data_path


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_unpacks_the_package_into_torchvisions_layout_and_reads_it(tmp_path, no_network):
    files = fake_files()
    package = write_package(tmp_path / "package", files)
    parts = fashion.load(tmp_path / "data", package_dir=package)
    raw = fashion.raw_folder(tmp_path / "data")
    assert {p.name for p in raw.iterdir()} == set(fashion.FILES)  # no temporary file left behind
    images, labels = parts["train"]
    assert images.dtype == torch.uint8 and images.shape == (50, 1, 28, 28)
    expected = np.frombuffer(files["train-images-idx3-ubyte"][16:], np.uint8).reshape(50, 28, 28)
    assert torch.equal(images[:, 0], torch.from_numpy(expected.copy()))
    assert labels.dtype == torch.int64 and labels.tolist() == [i % 10 for i in range(50)]
    assert parts["test"][0].shape == (20, 1, 28, 28)


def test_a_users_copy_is_read_without_the_package(tmp_path, no_network):
    data_path = write_raw(tmp_path / "mine", fake_files(n_train=30, n_test=10))
    parts = fashion.load(data_path, package_dir=tmp_path / "not-installed")
    assert parts["train"][0].shape[0] == 30 and parts["test"][0].shape[0] == 10


def test_splits_fixed_validation_and_official_test(tmp_path, monkeypatch):
    data_path = write_raw(tmp_path / "mine", fake_files(n_train=100, n_test=40))
    a, b = data.load("fashion", data_path), data.load("fashion", data_path, seed=5)
    assert (len(a.train), len(a.val), len(a.test), a.num_classes, a.in_chans) == (90, 10, 40, 10, 1)
    assert torch.equal(a.val.images, b.val.images)  # the split never depends on the run's seed
    mean = a.train.images.float().mean().item() / 255
    assert a.mean == pytest.approx((mean,)) and a.image_size == 28


def test_missing_data_names_the_package_and_the_flag(tmp_path):
    with pytest.raises(ValueError, match=r"apt-get install dataset-fashion-mnist.*--data-path") as e:
        fashion.load(tmp_path / "data", package_dir=tmp_path / "not-installed")
    assert "Nothing is downloaded" in str(e.value)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], r"promises 50 items .*\(truncated or corrupt\)"),
        (lambda b: b[:10], r"fewer than its 16-byte header"),
        (lambda b: np.array([2049], ">i4").tobytes() + b[4:], r"magic 2049.*not magic 2051"),
    ],
)
def test_corrupt_or_truncated_files_are_named(tmp_path, damage, message):
    files = fake_files()
    files["train-images-idx3-ubyte"] = damage(files["train-images-idx3-ubyte"])
    data_path = write_raw(tmp_path / "mine", files)
    with pytest.raises(
        ValueError, match=r"train-images-idx3-ubyte is not a valid Fashion-MNIST IDX file: .*" + message
    ):
        data.load("fashion", data_path)


def test_images_and_labels_that_do_not_belong_together(tmp_path):
    files = fake_files()
    files["t10k-labels-idx1-ubyte"] = idx_bytes(np.arange(7) % 10, 2049)
    with pytest.raises(ValueError, match="20 t10k images but 7 labels"):
        fashion.load(write_raw(tmp_path / "mine", files))


def test_labels_outside_the_ten_classes(tmp_path):
    files = fake_files()
    files["train-labels-idx1-ubyte"] = idx_bytes(np.full(50, 12), 2049)
    with pytest.raises(ValueError, match=r"labels outside 0..9"):
        fashion.load(write_raw(tmp_path / "mine", files))


def test_a_damaged_package_file_is_named_and_nothing_is_left(tmp_path):
    package = write_package(tmp_path / "package", fake_files())
    (package / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz cannot be unpacked.*--reinstall"):
        fashion.load(tmp_path / "data", package_dir=package)
    left = {p.name for p in fashion.raw_folder(tmp_path / "data").iterdir()}
    assert "t10k-images-idx3-ubyte" not in left and not any(n.startswith(".") for n in left)
