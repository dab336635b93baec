"""Training across processes (`torchrun ... -m gan train`): who this process is, and the few
collectives the trainer needs.

Every rank draws the same global batch (the same seeded permutation and noise) and takes its slice.
Gradients are summed across ranks, each weighted by its share of the global batch, inside the step
(also inside the compiled graph), so N processes compute exactly the global step one process does.
Without torchrun's environment this is a single process and every collective is a no-op.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gan.errors import GanError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def check_batch(self, batch: int) -> None:
        """--batch-size is the global batch: every rank must get an equal share of it."""
        if batch % self.size:
            raise GanError(
                f"--batch-size {batch} (the global batch) does not divide among {self.size} processes; "
                f"use a multiple of {self.size}"
            )

    def local_slice(self, batch: int) -> slice:
        """This rank's contiguous share of a global batch (shares differ by at most one)."""
        bounds = torch.tensor_split(torch.arange(batch), self.size)[self.rank]
        start = int(bounds[0]) if len(bounds) else batch
        return slice(start, start + len(bounds))

    def weighted_sum(self, tensors: list[torch.Tensor], weight: float) -> None:
        """In place: the sum over ranks of `weight` x each tensor (weight = share of the batch)."""
        if not self.distributed:
            return
        for tensor in tensors:
            tensor.mul_(weight)
            dist.all_reduce(tensor)

    def agree(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean over ranks, the same on every rank (for the stats and the NaN check)."""
        if not self.distributed:
            return tensor
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor / self.size

    def broadcast(self, value):
        """Rank 0's `value` (any picklable object) on every rank."""
        if not self.distributed:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def join(device: torch.device) -> tuple[World, torch.device]:
    """Joins torchrun's process group when launched by it (NCCL on CUDA, gloo on CPU); on CUDA
    each rank takes the GPU of its LOCAL_RANK. Outside torchrun: one process, `device` unchanged."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    if not dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
        except Exception as error:
            raise GanError(f"could not join the torchrun process group ({backend}): {error}") from None
    return World(dist.get_rank(), dist.get_world_size()), device


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
