"""Fashion-MNIST (Xiao et al. 2017) from Debian's `dataset-fashion-mnist` package or a user's copy; never downloaded.

The files live in torchvision's layout, ``<data path>/FashionMNIST/raw/`` (the four original IDX
files, uncompressed), and torchvision.datasets.FashionMNIST reads them. When they are missing there,
they are unpacked into it from the package's gzipped files (/usr/share/datasets/fashion-mnist), once.
Every file is checked first (magic number, shape, length), so a truncated or corrupt file stops with
an error that names it instead of a traceback from deep inside torchvision, and nothing is written
from it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import torch

PACKAGE = "dataset-fashion-mnist"
PACKAGE_DIR = Path("/usr/share/datasets/fashion-mnist")
NUM_CLASSES = 10
# file -> (IDX magic number, dims after the count): 0x0803 is unsigned bytes in 3 dims, 0x0801 in 1.
FILES = {
    "train-images-idx3-ubyte": (2051, (28, 28)),
    "train-labels-idx1-ubyte": (2049, ()),
    "t10k-images-idx3-ubyte": (2051, (28, 28)),
    "t10k-labels-idx1-ubyte": (2049, ()),
}


def raw_folder(data_path: str | Path) -> Path:
    return Path(data_path) / "FashionMNIST" / "raw"


def load(data_path: str | Path, package_dir: Path = PACKAGE_DIR) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"train", "test"}: uint8 images (N, 1, 28, 28) and int64 labels of the official splits."""
    raw = raw_folder(data_path)
    missing = [name for name in FILES if not (raw / name).is_file()]
    if missing:
        _unpack(missing, raw, package_dir)
    counts = {name: check_idx(raw / name) for name in FILES}
    for split in ("train", "t10k"):
        images, labels = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if images != labels:
            raise ValueError(
                f"{raw} holds {images} {split} images but {labels} labels: the files do not belong "
                f"together; replace them with the four files of one Fashion-MNIST copy."
            )
    from torchvision.datasets import FashionMNIST  # imported only here: it is slow to import

    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = FashionMNIST(str(data_path), train=train, download=False)
        if int(ds.targets.min()) < 0 or int(ds.targets.max()) >= NUM_CLASSES:
            raise ValueError(
                f"{raw} holds {split} labels outside 0..{NUM_CLASSES - 1}: these are not Fashion-MNIST "
                "files; replace them."
            )
        out[split] = (ds.data.unsqueeze(1).contiguous(), ds.targets.to(torch.int64))
    return out


def check_idx(path: Path) -> int:
    """The number of items in IDX file ``path``; ValueError naming the file when its header or length is wrong."""
    magic, dims = FILES[path.name]
    header = 4 * (2 + len(dims))
    size = path.stat().st_size
    if size < header:
        raise ValueError(_corrupt(path, f"it has {size} bytes, fewer than its {header}-byte header"))
    values = np.fromfile(path, dtype=">i4", count=2 + len(dims))
    if int(values[0]) != magic or tuple(int(v) for v in values[2:]) != dims:
        found = f"magic {int(values[0])}, item shape {tuple(int(v) for v in values[2:])}"
        raise ValueError(_corrupt(path, f"its header says {found}, not magic {magic} and item shape {dims}"))
    count = int(values[1])
    expected = header + count * int(np.prod(dims, dtype=np.int64))
    if size != expected:
        raise ValueError(_corrupt(path, f"its header promises {count} items ({expected} bytes) but it has {size}"))
    return count


def _corrupt(path: Path, why: str) -> str:
    return (
        f"{path} is not a valid Fashion-MNIST IDX file: {why} (truncated or corrupt). Delete it; it is "
        f"unpacked again from Debian's {PACKAGE} package, or put a good copy there."
    )


def _unpack(names: list[str], raw: Path, package_dir: Path) -> None:
    """Unpack the package's gzipped IDX files into ``raw``, each through a temporary file and a rename."""
    sources = [package_dir / f"{name}.gz" for name in names]
    if not all(s.is_file() for s in sources):
        raise ValueError(
            f"Fashion-MNIST is not in {raw} (missing: {', '.join(names)}) and Debian's {PACKAGE} package is not "
            f"installed ({package_dir} has no {sources[0].name}). Install it with `apt-get install {PACKAGE}` "
            "(`make demo` does), or pass --data-path FOLDER where FOLDER/FashionMNIST/raw/ holds the four "
            "uncompressed IDX files (torchvision's layout). Nothing is downloaded."
        )
    raw.mkdir(parents=True, exist_ok=True)
    for source, name in zip(sources, names):
        tmp = raw / f".{name}.tmp-{os.getpid()}"
        try:
            with gzip.open(source, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, raw / name)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"{source} cannot be unpacked ({type(e).__name__}: {e}); reinstall the package "
                f"(`apt-get install --reinstall {PACKAGE}`) or pass --data-path with a good copy."
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
