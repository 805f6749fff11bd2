"""What every benchmark shares: honest timing, memory, and a result file that says how it was made."""

from __future__ import annotations

import platform
import re
import statistics
import time
from pathlib import Path

import torch
from torch.utils import flop_counter

from records import provenance


def _flash_flops(q, k, v, *args, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(q, k, v)


def _flash_backward_flops(grad, q, k, v, *args, **kwargs) -> int:
    # The four products of the gradients: the kernel's recomputation of the scores is not a model FLOP,
    # and without it every attention path (fused, math, written out) counts the same.
    return 2 * flop_counter.sdpa_flop_count(q, k, v)


# FlopCounterMode(custom_mapping=CPU_FLASH) counts SDPA's fused CPU kernel, which it skips by itself
CPU_FLASH = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _flash_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _flash_backward_flops,
}


def device_text(device: torch.device) -> str:
    """The result file's device, in the one wording of records.provenance."""
    if device.type == "cuda":
        return provenance.device_description(torch.cuda.get_device_name(device))
    return provenance.device_description(threads=torch.get_num_threads())


def device_slug(device: torch.device) -> str:
    """A file-name tag: 'cpu' or e.g. 'nvidia-h100-80gb-hbm3'."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def write_result(
    name: str, device: torch.device, payload: dict, out_dir: Path, argv: list[str], overwrite: bool = False
) -> Path:
    """<out_dir>/<device>-<name>.json, written atomically, headed by the command ``argv``, commit, device and date.

    The torch and Python versions go beside them: a timing means little without the library that ran.
    """
    path = Path(out_dir) / f"{device_slug(device)}-{name}.json"
    provenance.check_new(path, overwrite)
    versions = {"torch": torch.__version__, "python": platform.python_version()}
    # indent 2: the format of the committed results/bench files, so a rerun's diff shows only the numbers
    provenance.write_json(
        {**provenance.header(argv, device_text(device), code=(*provenance.CODE, "benchmarks")), **versions, **payload},
        path,
        indent=2,
    )
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
