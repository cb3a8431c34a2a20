"""Devices and multi-process (torchrun / DistributedDataParallel) plumbing for the training loop.

``torchrun --nproc_per_node=K -m rppg_lib.train ...`` starts K processes and sets RANK,
LOCAL_RANK and WORLD_SIZE (and MASTER_ADDR/PORT) in each one's environment. When WORLD_SIZE > 1
the loop joins the process group (NCCL on CUDA, Gloo on CPU), each process trains on its own
share of the chunks, and DistributedDataParallel averages the gradients, so every process holds
the same weights after every step. Only rank 0 validates and writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistContext", "resolve_device", "init_distributed", "shutdown_distributed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` processes (``local_rank`` on its
    node). ``active`` when training runs in a process group (WORLD_SIZE > 1); ``owns_group``
    when this module created the group (and so destroys it at the end)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    active: bool = False
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on the process that validates, logs and writes checkpoints (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (identity when not distributed)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process (pickled; small objects such as metric dicts)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order, on every process."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """The torch device for ``device``: "auto" picks CUDA (cuda:local_rank), then Apple MPS,
    then CPU; an explicit string is checked to be available."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device must be 'auto' or a torch device string, got {device!r}") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device = {device!r} but CUDA is not available on this machine")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device = {device!r} but Apple MPS is not available on this machine")
    return dev


def init_distributed(device: str) -> tuple[DistContext, torch.device]:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1.

    Returns the context and this process's device. Backend: NCCL when the device is CUDA,
    Gloo otherwise (CPU; also the backend the tests use). A process group that the caller
    already initialised is reused (and not torn down by :func:`shutdown_distributed`).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"RANK = {rank} and WORLD_SIZE = {world_size} are inconsistent")
    dev = resolve_device(device, local_rank)
    if world_size == 1:
        return DistContext(), dev
    if dev.type == "mps":
        raise ValueError("distributed training on Apple MPS is not supported; use device='cpu'")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        log.info("rank %d/%d joined the process group (%s)", rank, world_size, dist.get_backend())
    return DistContext(rank, local_rank, world_size, active=True, owns_group=owned), dev


def shutdown_distributed(ctx: DistContext) -> None:
    """Wait for every process, then leave the process group if this module created it."""
    if ctx.active and dist.is_initialized():
        dist.barrier()
        if ctx.owns_group:
            dist.destroy_process_group()
