"""Shared fixtures and helpers: small data sets in the real CIFAR file format, a CPU-only subprocess env,
one torch thread, and an independent complex-number RoPE."""

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
    classes, folder, label_key = (
        (10, "cifar-10-batches-py", "labels") if name == "cifar10" else (100, "cifar-100-python", "fine_labels")
    )
    folder = root / folder
    folder.mkdir(parents=True, exist_ok=True)

    def dump(filename, n):
        labels = rng.integers(0, classes, n)
        images = rng.integers(0, 64, (n, 3, 32, 32)) + (labels * 191 // classes)[:, None, None, None]
        entry = {
            "batch_label": "fixture",
            label_key: labels.tolist(),
            "data": images.astype(np.uint8).reshape(n, 3072),
            "filenames": [f"{i}.png" for i in range(n)],
        }
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
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra)
    return env


PYTHON = sys.executable


def complex_rope(x, freqs, pos):
    """RoPE as complex numbers, written independently of the library: (..., H, N, D) x, (H, D // 2, n)
    freqs, (N, n) pos; the pair (x_2i, x_2i+1) is x_2i + i x_2i+1 times exp(i freqs_i . p)."""
    import torch

    pairs = freqs.shape[1]
    z = torch.complex(x[..., 0 : 2 * pairs : 2], x[..., 1 : 2 * pairs : 2])
    turned = z * torch.polar(torch.ones(()).to(freqs.dtype), torch.einsum("na,hia->hni", pos.to(freqs), freqs))
    out = torch.stack((turned.real, turned.imag), dim=-1).flatten(-2)
    return torch.cat((out, x[..., 2 * pairs :]), dim=-1)


def perturb(module, scale: float = 0.3) -> None:
    """Random non-trivial learned parameters (a Stiefel basis keeps its random rotation: it must stay on
    its manifold)."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            if type(p) is torch.nn.Parameter:
                p.add_(scale * torch.randn_like(p))


def train(out, cifar_root, *extra, model: str = "vit_rope_2D_axial_2x2_digits", epochs: int = 2) -> int:
    """`rope-blocks train` in process on the CIFAR-format fixture, resized to 8x8 so that it is quick."""
    from commands import train as command

    argv = [
        "--optimizer",
        "adamw",
        "--epochs",
        str(epochs),
        "--run_id",
        "r",
        "--model",
        model,
        "--batch_size",
        "16",
        "--lr",
        "0.001",
        "--input_size",
        "8",
        "--data_path",
        str(cifar_root),
        "--dataset",
        "cifar10",
        "--num_workers",
        "0",
        "--out",
        str(out),
        "--no_progress",
        *extra,
    ]
    return command.main(argv)


def train_error(capsys) -> str:
    """What `rope-blocks train` printed on stderr: its one error line, and no traceback."""
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks train: error: "), err
    assert "Traceback" not in err
    return err
