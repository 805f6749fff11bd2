"""Process groups: torchrun's env:// rendezvous, or local workers started by the trainer itself."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def torchrun_env() -> tuple[int, int, int] | None:
    """(rank, local rank, world size) when started by torchrun, else None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"])


def init(rank: int, world_size: int, cuda: bool) -> None:
    if world_size > 1:
        dist.init_process_group("nccl" if cuda else "gloo", init_method="env://", rank=rank, world_size=world_size)


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def spawn(fn, world_size: int, args: tuple) -> list[int]:
    """Run fn(rank, world_size, *args) in world_size local processes; their exit codes."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(_free_port())
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=fn, args=(rank, world_size, *args)) for rank in range(world_size)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [p.exitcode for p in procs]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sum_all(t: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(t)
    return t


def gather(obj) -> list:
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
