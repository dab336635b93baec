"""The device's matrix-multiply peak, measured in the same run as the benchmarks it scales."""

from __future__ import annotations

import torch

from bench.timing import StopRule, measure


def matmul_peak_gflops(device: torch.device, quick: bool = False) -> dict:
    """fp32 GEMM throughput at a size large enough to saturate the device (TF32 off on CUDA, since
    every benchmarked backend computes in fp32)."""
    n = (8192 if not quick else 4096) if device.type == "cuda" else (2048 if not quick else 1024)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=generator)
    b = torch.randn(n, n, device=device, generator=generator)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        rule = StopRule(warmup=3, min_iters=5, min_time_s=0.3 if quick else 1.0)
        measurement = measure(lambda: torch.mm(a, b), device, rule)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    # The best sample, not the median: the peak is what the hardware can do, noise only lowers it.
    best_ms = min(measurement.samples_ms)
    return {
        "n": n,
        "dtype": "float32",
        "gflops": 2 * n**3 / (best_ms / 1e3) / 1e9,
        "median_gflops": 2 * n**3 / (measurement.median_ms / 1e3) / 1e9,
    }
