"""Where training and inference run: the device, the seeds, mixed precision and the processes.

What ``svmlp train`` and ``svmlp predict`` share, kept below both so neither imports the other.

>>> choose_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

from svmlp.errors import UsageError

__all__ = ["Processes", "amp_dtype_for", "choose_device", "seed_all", "start_processes", "unwrap"]


def choose_device(name: str) -> torch.device:
    """``auto`` (CUDA when torch sees it, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r}: not a device (auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"--device {name}: CUDA was asked for but torch sees no CUDA device (torch {torch.__version__})"
        )
    return dev


def amp_dtype_for(device: torch.device, *, amp: bool) -> torch.dtype | None:
    """bf16 where the GPU has it, else fp16; None (float32) without ``amp`` or off CUDA."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def seed_all(seed: int) -> None:
    """Python's, numpy's and torch's generators, from one seed."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    inner = getattr(model, "module", model)
    return inner if isinstance(inner, nn.Module) else model


@dataclass
class Processes:
    """This process's place in a ``torchrun`` job (one process: world 1, rank 0)."""

    world: int
    rank: int
    device: torch.device
    #: ``-q``: nothing said but errors
    quiet: bool = False

    @property
    def main(self) -> bool:
        """Rank 0: the process that evaluates, writes the run folder and speaks."""
        return self.rank == 0

    def say(self, line: str) -> None:
        if self.main and not self.quiet:
            print(line, flush=True)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.world > 1:
            torch.distributed.destroy_process_group()


def start_processes(device_name: str) -> Processes:
    """The device and, under ``torchrun`` (``WORLD_SIZE`` > 1), the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = choose_device(device_name)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        # rank 0 evaluates while the others wait at a barrier: allow it a long evaluation
        torch.distributed.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=2)
        )
    return Processes(world, rank, device)
