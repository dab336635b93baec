"""How to time a call so that a performance engineer trusts the number.

- warm-up runs first (TorchScript's profiling executor needs at least 2; we always do >= 10),
  with the very first call reported separately (first_call_ms);
- then iterations until BOTH a minimum count and a minimum time are reached; with a `max_time_s`
  (--quick), a slow call stops each phase once that much time has passed, keeping at least
  MIN_WARMUP warm-ups and MIN_SAMPLES samples, so one heavy row cannot take a quick bench's budget;
- on CUDA, a pair of events around each iteration and one synchronize at the end, so the host
  never stalls the GPU queue between samples; on CPU, perf_counter around each call;
- the garbage collector is off while timing, and every raw sample is kept.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

NOISY_IQR_FRACTION = 0.10
# What a row keeps however slow its call: TorchScript's profiling executor needs 2 warm-ups.
MIN_WARMUP, MIN_SAMPLES = 2, 5


@dataclass(frozen=True)
class StopRule:
    warmup: int = 10
    min_iters: int = 50
    min_time_s: float = 1.0
    max_time_s: float | None = None  # per phase (warm-up, samples); None: no limit

    @classmethod
    def quick(cls) -> StopRule:
        return cls(warmup=10, min_iters=20, min_time_s=0.2, max_time_s=1.5)

    def done(self, count: int, seconds: float, least: int, wanted: int, min_time_s: float = 0.0) -> bool:
        """Whether a phase that ran `count` calls in `seconds` may stop: it reached `wanted` calls
        and `min_time_s`, or it is over `max_time_s` with at least `least` calls."""
        if count >= wanted and seconds >= min_time_s:
            return True
        return self.max_time_s is not None and count >= least and seconds >= self.max_time_s


@dataclass(frozen=True)
class Measurement:
    samples_ms: list[float]
    first_call_ms: float

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.samples_ms)
        position = (len(ordered) - 1) * q / 100
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    def summary(self) -> dict[str, float | bool]:
        median = self.median_ms
        iqr = self.percentile_ms(75) - self.percentile_ms(25)
        mean = statistics.fmean(self.samples_ms)
        std = statistics.pstdev(self.samples_ms)
        return {
            "mean_ms": mean,
            "median_ms": median,
            "p90_ms": self.percentile_ms(90),
            "p99_ms": self.percentile_ms(99),
            "iqr_ms": iqr,
            "cv": std / mean if mean else 0.0,
            "noisy": iqr / median > NOISY_IQR_FRACTION if median else False,
            "first_call_ms": self.first_call_ms,
            "iterations": len(self.samples_ms),
        }


def measure(run: Callable[[], object], device: torch.device, rule: StopRule = StopRule()) -> Measurement:
    cuda = device.type == "cuda"
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        first_call_ms = _time_once(run, cuda)
        began, count = time.perf_counter(), 0
        while not rule.done(count, time.perf_counter() - began, MIN_WARMUP, rule.warmup):
            run()
            count += 1
        if cuda:
            torch.cuda.synchronize(device)
            samples_ms = _cuda_samples(run, rule)
        else:
            samples_ms = _cpu_samples(run, rule)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(samples_ms=samples_ms, first_call_ms=first_call_ms)


def _time_once(run: Callable[[], object], cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if cuda:
        torch.cuda.synchronize()  # a host timer is only honest around a call that synchronizes
    return (time.perf_counter() - start) * 1e3


def _cpu_samples(run: Callable[[], object], rule: StopRule) -> list[float]:
    samples = []
    began = time.perf_counter()
    while not rule.done(
        len(samples), time.perf_counter() - began, MIN_SAMPLES, rule.min_iters, rule.min_time_s
    ):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def _cuda_samples(run: Callable[[], object], rule: StopRule) -> list[float]:
    # Events are recorded back to back on the stream; the host only checks the clock to decide
    # when to stop, and reads all the event times after one synchronize at the end.
    events = []
    began = time.perf_counter()
    while not rule.done(
        len(events), time.perf_counter() - began, MIN_SAMPLES, rule.min_iters, rule.min_time_s
    ):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        events.append((start, end))
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in events]
