"""Turning the user's `--device` choice into a torch.device, or a clear reason why not; and the
name of this machine's CPU, which every figure names."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from gan.errors import EnvironmentMissing, GanError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def cuda_missing_reason() -> str | None:
    """Why CUDA cannot be used here, or None when it can."""
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            return f"this torch build ({torch.__version__}) has no CUDA support"
        return (
            f"torch {torch.__version__} is built for CUDA {torch.version.cuda} "
            "but no CUDA device or driver is visible (nvidia-smi shows none)"
        )
    return None


def resolve_device(choice: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without CUDA is an error, never a silent fallback."""
    if choice not in DEVICE_CHOICES:
        raise GanError(f"unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        return torch.device("cuda" if cuda_missing_reason() is None else "cpu")
    if choice == "cuda" and (reason := cuda_missing_reason()) is not None:
        raise EnvironmentMissing(f"--device cuda was asked for, but {reason}")
    return torch.device(choice)


def cpu_model() -> str:
    """The CPU's marketing name ("AMD EPYC 7B13"), as figures and reports name their machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
