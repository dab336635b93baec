"""Where a bench ran: library versions, the CPU or GPU by name and ISA, threads, the git commit,
and the matmul peak measured in the same run. Every figure the toolkit prints names its machine."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from gan.device import cpu_model


def environment(device: torch.device, threads: int, peak: dict) -> dict:
    import onnx
    import onnxruntime

    return {
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "python": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "ort_intra_op_threads": threads,
        "ort_inter_op_threads": 1,
        "git_commit": git_commit(),
        "matmul_peak": peak,
    }


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
