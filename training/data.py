"""Data sets as uint8 image tensors with fixed train / val / test splits.

Every data set is held in memory as uint8 (N, C, H, W) images and int64 labels;
conversion to normalised floats (and resizing to `--input_size`) happens per batch
on the training device, so loading costs nothing per image.

* cifar10, cifar100: read from the python-pickle files of the official archives
  (downloaded through torchvision when missing and online). The validation split
  is a fixed 10% of the official training set; the official test set is the test split.
* digits: scikit-learn's bundled 8x8 handwritten digits (1797 real images, works offline).
* fashion: Fashion-MNIST's 28x28 grayscale images (training/fashion.py: from Debian's
  dataset-fashion-mnist package or a copy under --data-path, never downloaded); the validation
  split is a fixed 10% of the official 60,000 training images, the test split its 10,000.
* synthetic: random images and labels of a given size, for speed benchmarks.
* probe_diagonal, probe_extrapolate, probe_quadrant: generated probe tasks (training/probes.py),
  drawn from the run's seed, so that a seed gives every model the same images.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from . import probes

DATASETS = ("cifar10", "cifar100", "digits", "fashion", "synthetic", *probes.TASKS)
VAL_FRACTION = 0.1
SPLIT_SEED = 0  # the splits never depend on --seed: every run sees the same val and test images

# folder inside --data_path, archive url, training files, test file, label key
_CIFAR = {
    "cifar10": (
        "cifar-10-batches-py",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        "labels",
        10,
    ),
    "cifar100": (
        "cifar-100-python",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        ["train"],
        "test",
        "fine_labels",
        100,
    ),
}


class ImageTensors(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


@dataclass
class Splits:
    train: ImageTensors
    val: ImageTensors
    test: ImageTensors
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def in_chans(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train.images.shape[-1]

    def prepare(self, images: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """uint8 (B, C, H, W) -> normalised float images, resized to `size` when given."""
        x = images.float().div_(255)
        if size is not None and size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def load(name: str, data_path: str | Path = "data", *, image_size: int = 32, seed: int = 0) -> Splits:
    """The train / val / test splits of data set `name`.

    `image_size` is used by `synthetic` only, `seed` by the generated probe tasks only.
    """
    if name in _CIFAR:
        return _load_cifar(name, Path(data_path))
    if name == "digits":
        return _load_digits()
    if name == "fashion":
        return _load_fashion(Path(data_path))
    if name == "synthetic":
        return _synthetic(image_size)
    if name in probes.TASKS:
        return _probe(name, seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")


def first(splits: Splits, n: int) -> Splits:
    """The first ``n`` images of each split (the splits are already in a fixed random order)."""
    train, val, test = (ImageTensors(p.images[:n], p.labels[:n]) for p in (splits.train, splits.val, splits.test))
    return Splits(train, val, test, splits.num_classes, splits.mean, splits.std)


def results_folder(name: str) -> str:
    """Where runs on data set `name` keep their outputs, under runs/ and results/: the probe tasks together."""
    return f"probes/{name}" if name in probes.TASKS else name


def _split(images: torch.Tensor, labels: torch.Tensor, val_fraction: float, test_fraction: float = 0.0):
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_val, n_test = round(val_fraction * len(labels)), round(test_fraction * len(labels))
    parts = perm[n_val + n_test :], perm[:n_val], perm[n_val : n_val + n_test]
    return [ImageTensors(images[p], labels[p]) for p in parts]


def _load_cifar(name: str, root: Path) -> Splits:
    folder, url, train_files, test_file, label_key, num_classes = _CIFAR[name]
    base = root / folder
    files = [*train_files, test_file]
    if not all((base / f).is_file() for f in files):
        _download_cifar(name, root, url, base, files)
    train_x, train_y = zip(*(_read_cifar_file(base / f, label_key) for f in train_files))
    test_x, test_y = _read_cifar_file(base / test_file, label_key)
    images, labels = torch.cat(train_x), torch.cat(train_y)
    for labels_ in (labels, test_y):
        if labels_.min() < 0 or labels_.max() >= num_classes:
            raise ValueError(f"{base} holds labels outside 0..{num_classes - 1}: these are not {name} files.")
    train, val, _ = _split(images, labels, VAL_FRACTION)
    # The seed normalised CIFAR to [-1, 1]; so do we.
    return Splits(train, val, ImageTensors(test_x, test_y), num_classes, (0.5,) * 3, (0.5,) * 3)


def _download_cifar(name, root, url, base, files):
    import fcntl

    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    missing = [f for f in files if not (base / f).is_file()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        # Under torchrun every process arrives here at once: one downloads, the others wait and find the files.
        with open(root / f".{name}-download.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not all((base / f).is_file() for f in files):
                cls(str(root), train=True, download=True)
    except Exception as e:  # offline, blocked, or a partial archive: all end the same way for the user
        raise ValueError(
            f"{name} is not in {base} (missing: {', '.join(missing)}) and downloading it failed "
            f"({type(e).__name__}: {e}). On a machine without internet, download {url}, then put the "
            f"archive in {root} (or its extracted folder {base.name}/ there) and pass --data_path {root}."
        ) from None


def _read_cifar_file(path: Path, label_key: str):
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = torch.as_tensor(np.asarray(entry[label_key], dtype=np.int64))
        images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    except Exception as e:
        raise ValueError(
            f"{path} is not a readable CIFAR batch file ({type(e).__name__}: {e}); delete its folder "
            f"and download the archive again."
        ) from None
    if len(images) != len(labels):
        raise ValueError(f"{path} holds {len(images)} images but {len(labels)} labels; the file is damaged.")
    return images, labels


def _load_digits() -> Splits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are 0..16; scale to the uint8 range the rest of the pipeline expects.
    images = torch.from_numpy(np.rint(digits.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train, val, test = _split(images, labels, val_fraction=0.1, test_fraction=0.2)
    mean = train.images.float().mean().item() / 255
    std = train.images.float().std().item() / 255
    return Splits(train, val, test, 10, (mean,), (std,))


def _load_fashion(data_path: Path) -> Splits:
    from . import fashion

    parts = fashion.load(data_path)
    train, val, _ = _split(*parts["train"], VAL_FRACTION)
    mean = train.images.float().mean().item() / 255
    std = train.images.float().std().item() / 255
    return Splits(train, val, ImageTensors(*parts["test"]), fashion.NUM_CLASSES, (mean,), (std,))


def _synthetic(image_size: int) -> Splits:
    g = torch.Generator().manual_seed(SPLIT_SEED)
    n = 2048 + 256 + 256
    images = torch.randint(0, 256, (n, 3, image_size, image_size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    parts = [ImageTensors(images[a:b], labels[a:b]) for a, b in ((0, 2048), (2048, 2304), (2304, n))]
    return Splits(*parts, 10, (0.5,) * 3, (0.5,) * 3)


def _probe(name: str, seed: int) -> Splits:
    parts = {split: ImageTensors(*tensors) for split, tensors in probes.splits(name, seed).items()}
    chans, classes = parts["train"].images.shape[1], int(parts["train"].labels.max()) + 1
    # Blank pixels become -1 and marks +1.
    return Splits(parts["train"], parts["val"], parts["test"], classes, (0.5,) * chans, (0.5,) * chans)
