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


def cpu_flags() -> set[str]:
    """The ISA flags the kernel reports for this CPU (empty where /proc/cpuinfo is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device) -> str | None:
    """How `device` computes bf16 natively ("AVX512_BF16", "AMX-BF16", "CUDA"), or None when it
    would only emulate it (converting to fp32 around every op, slower than fp32 itself)."""
    if device.type == "cuda":
        return "CUDA" if torch.cuda.is_bf16_supported() else None
    flags = cpu_flags()
    found = [
        name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512_BF16")) if flag in flags
    ]
    return ", ".join(found) or None


def bf16_problem(device: torch.device) -> str | None:
    """Why bf16 rows should not run on `device`, or None when it has native bf16."""
    if native_bf16(device) is not None:
        return None
    what = f"GPU ({device})" if device.type == "cuda" else f"CPU ({cpu_model()})"
    return (
        f"this {what} has no native bf16 (no AVX512_BF16 or AMX-BF16): it would only emulate "
        "bf16, slower than fp32"
    )
