"""The data sets (training/data.py): CIFAR in its official file format, synthetic images, and the
offline digits. The probe tasks' data sets are in test_probes.py."""

from __future__ import annotations

import socket

import pytest
import torch
from conftest import write_cifar

from training import data


def test_cifar_reader_reads_the_official_format(cifar_root):
    s = data.load("cifar10", cifar_root)
    assert (len(s.train), len(s.val), len(s.test)) == (90, 10, 40)
    assert s.train.images.dtype == torch.uint8 and s.train.images.shape[1:] == (3, 32, 32)
    x = s.prepare(s.train.images[:2], 8)
    assert x.shape == (2, 3, 8, 8) and x.min() >= -1 and x.max() <= 1


def test_cifar100_and_synthetic(tmp_path):
    s = data.load("cifar100", write_cifar(tmp_path, "cifar100"))
    assert (len(s.train), len(s.val), len(s.test), s.num_classes) == (90, 10, 40, 100)
    assert s.train.labels.max() > 10
    syn = data.load("synthetic", image_size=12)
    assert syn.train.images.shape[1:] == (3, 12, 12) and len(syn.train) == 2048


def test_damaged_cifar_file_is_named(tmp_path):
    root = write_cifar(tmp_path)
    (root / "cifar-10-batches-py/data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3 is not a readable CIFAR batch file"):
        data.load("cifar10", root)


def test_digits_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    a, b = data.load("digits"), data.load("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1258, 180, 359)
    assert a.train.images.shape[1:] == (1, 8, 8) and a.num_classes == 10
    assert torch.equal(a.test.images, b.test.images)  # a fixed split
    all_rows = torch.cat([a.train.images, a.val.images, a.test.images]).flatten(1)
    assert len(torch.unique(all_rows, dim=0)) > 1700  # the splits do not repeat images
