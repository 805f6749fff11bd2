"""What every benchmark shares: honest timing, memory, and a result file that says how it was made."""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import re
import shlex
import statistics
import time

import torch

from training.main import git_commit

ROOT = pathlib.Path(__file__).resolve().parents[1]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def device_slug(device: torch.device) -> str:
    """A file-name tag: 'cpu' or e.g. 'nvidia-h100-80gb-hbm3'."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def provenance(device: torch.device, module: str, argv: list[str]) -> dict:
    return {
        "command": shlex.join(["python", "-m", module, *argv]),
        "commit": git_commit(("benchmarks", "training", "rope_blocks", "theory")),
        "device": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_result(name: str, device: torch.device, payload: dict, out_dir: pathlib.Path, module: str,
                 argv: list[str]) -> pathlib.Path:
    """results/bench/<device>-<name>.json, written atomically, with the command, commit, device and date."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{device_slug(device)}-{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**provenance(device, module, argv), **payload}, indent=2) + "\n")
    tmp.replace(path)
    return path


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device: torch.device, warmup: int, reps: int) -> float:
    """Median wall time of fn(), with the device synchronised around every call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def memory_bytes(step, forward, device: torch.device) -> int:
    """Memory a training step needs beyond its inputs.

    CUDA: the allocator's peak during step(). CPU has no such counter, so there it is the
    activation footprint of forward(): its outputs plus the tensors autograd saves for the
    backward pass (each storage counted once).
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    storages = {}

    def keep(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        outputs = forward()
    for t in outputs:
        keep(t)
    return sum(storages.values())


def add_run_arguments(parser: argparse.ArgumentParser, batch: int, name: str | None) -> None:
    """The options every benchmark takes: where it runs, how long it measures, where it writes.

    name: the default result name (<out>/<device>-<name>.json); None lets the benchmark choose.
    """
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default=name, help="result file <out>/<device>-<name>.json (default: %(default)s)")


def run_device(args: argparse.Namespace, parser: argparse.ArgumentParser) -> torch.device:
    """Check the options of ``add_run_arguments`` and set the device up."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is visible; run on a GPU machine or use --device cpu")
    if args.batch < 1 or args.reps < 1 or args.warmup < 0:
        parser.error("--batch and --reps must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    return device
