"""Shared fixtures: small data sets in the real CIFAR file format, a CPU-only subprocess env, one torch thread."""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def write_cifar(root: Path, name: str = "cifar10", n_train: int = 100, n_test: int = 40, seed: int = 0) -> Path:
    """The official folder, file names and pickle layout of CIFAR-10 or CIFAR-100, tiny and random.

    Each class gets a distinct mean colour so that a model can learn something in a few steps.
    """
    rng = np.random.default_rng(seed)
    classes, folder, label_key = ((10, "cifar-10-batches-py", "labels") if name == "cifar10"
                                  else (100, "cifar-100-python", "fine_labels"))
    folder = root / folder
    folder.mkdir(parents=True, exist_ok=True)

    def dump(filename, n):
        labels = rng.integers(0, classes, n)
        images = rng.integers(0, 64, (n, 3, 32, 32)) + (labels * 191 // classes)[:, None, None, None]
        entry = {"batch_label": "fixture", label_key: labels.tolist(),
                 "data": images.astype(np.uint8).reshape(n, 3072), "filenames": [f"{i}.png" for i in range(n)]}
        with open(folder / filename, "wb") as f:
            pickle.dump(entry, f)

    if name == "cifar10":
        for i, n in enumerate(np.diff(np.linspace(0, n_train, 6).astype(int)), start=1):
            dump(f"data_batch_{i}", int(n))
        dump("test_batch", n_test)
    else:
        dump("train", n_train)
        dump("test", n_test)
    return root


@pytest.fixture
def one_thread():
    """torch on one thread for the test, restored after it (modules opt in with pytestmark)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    return write_cifar(tmp_path_factory.mktemp("cifar"))


def cpu_env(**extra) -> dict:
    """Environment for subprocesses: one thread, no GPU, no network proxies needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    env.update(extra)
    return env


PYTHON = sys.executable
