"""One process or many: torchrun's environment decides; rank 0 logs and saves.

Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK set) a process group is started, NCCL on CUDA and
gloo on the CPU; otherwise everything is a no-op and the same training code runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vidrestore.errors import OptionError


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Start the process group when launched by torchrun and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError(f"--device {device}: no CUDA device is available")
        dev = torch.device("cuda", local_rank) if world_size > 1 else torch.device(device)
        torch.cuda.set_device(dev)
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise OptionError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank, dev)


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when ``flag`` is true on at least one (all ranks then act alike)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average scalar logs over ranks so rank 0 reports the whole batch."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor(
        [values[k] for k in keys],
        dtype=torch.float64,
        device=ctx.device if ctx.device.type == "cuda" else "cpu",
    )
    dist.all_reduce(t)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
