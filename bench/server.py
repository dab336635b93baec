"""The server scenario: how a backend answers many small requests at once, as a serving process
does (MLPerf's "server" scenario, ONNX Runtime's perf test with -c). N callers, each a thread with
its own inputs, call one loaded G with batch `batch` (1 by default) for a bounded time; the row is
their pooled latency (p50, p90, p99) and the total throughput.

A runtime that wins in a loop at batch 64 can lose here: thread pools that spin while another
caller waits, a lock around each run, or one shared buffer. A caller that raises, or whose last
result differs from what the same input gave alone, fails the row with the reason.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import torch

from gan.bench.rows import BenchRow
from gan.bench.scenarios import RowFailure, guarded_row, row_name, skipped_row, with_load, with_peak
from gan.bench.subject import Subject
from gan.bench.timing import Measurement
from gan.export.backends import BackendSpec
from gan.export.parity import compare_distribution
from gan.models.calls import first_line

WORKLOAD = "server G"
# Each caller's calls before the clock starts: the runtime's first-call work is not a request.
WARMUP_CALLS = 3
# However fast the call, a caller stops after this many requests (bounded in time and count).
MAX_REQUESTS = 1_000_000
INPUT_SEED = 1000


class ConcurrencyFailure(RowFailure):
    """The backend raised, or gave another answer, under concurrent callers."""


@dataclass(frozen=True)
class Server:
    concurrency: int
    duration_s: float
    workload: ClassVar[str] = WORKLOAD
    family: ClassVar[str] = "server"
    flops_key: ClassVar[str] = "generator"

    def precisions(self, subject: Subject, backend: BackendSpec) -> list[str]:
        return subject.precisions(backend)

    def run(self, subject: Subject, backend: BackendSpec, batch: int, precision: str = "fp32") -> BenchRow:
        row = BenchRow(
            WORKLOAD, row_name(backend, precision), str(subject.device), batch, precision=precision
        )
        row.concurrency = self.concurrency

        def fill(row: BenchRow) -> None:
            built = subject.forward_backend(backend, "generator", precision)
            runs, references = self._callers(subject, built, batch)
            # A G that draws noise inside forward gives another picture each call: its answers are
            # checked as gan verify checks it, by their distribution.
            same = _same_distribution if subject.signature.stochastic else _same
            with subject.memory.peak() if subject.memory else contextlib.nullcontext() as peak:
                latencies_ms, elapsed_s = self._serve(runs, references, same)
            summary = Measurement(samples_ms=latencies_ms, first_call_ms=float("nan")).summary()
            for key in ("median_ms", "p90_ms", "p99_ms", "iqr_ms", "mean_ms", "cv", "noisy", "iterations"):
                setattr(row, key, summary[key])
            row.throughput_per_s = len(latencies_ms) * batch / elapsed_s
            with_peak(row, peak)

        row = guarded_row(row, fill)
        return with_load(row, subject.load_of(backend, "generator", precision))

    def skipped(self, backend: BackendSpec, batch: int, precision: str, budget_s: float | None) -> BenchRow:
        row = skipped_row(WORKLOAD, backend, batch, precision, budget_s)
        row.concurrency = self.concurrency
        return row

    def _callers(self, subject: Subject, built, batch: int):
        """One bound call per caller, on inputs of its own, and what each gives when called alone."""
        signature = subject.signature
        size = signature.sizes[0] if signature.sizes else None
        runs, references = [], []
        for caller in range(self.concurrency):
            run = built.bind(*signature.draw("generator", batch, INPUT_SEED + caller, size=size))
            for _ in range(WARMUP_CALLS):
                reference = run()
            runs.append(run)
            references.append(reference.detach().clone())
        return runs, references

    def _serve(self, runs, references, same=None) -> tuple[list[float], float]:
        """Every caller calls its run until the duration is over; their latencies, pooled, and the
        wall time from the common start to the last caller's end. `same(result, reference)` says
        whether a caller's last answer is the one its input gives alone (default: equal values)."""
        same = same or _same
        start = threading.Barrier(len(runs) + 1)
        latencies: list[list[float]] = [[] for _ in runs]
        failures: list[str] = []
        stop_at = [0.0]

        def caller(index: int) -> None:
            run, mine = runs[index], latencies[index]
            try:
                start.wait()
                result = None
                while time.perf_counter() < stop_at[0] and len(mine) < MAX_REQUESTS:
                    began = time.perf_counter()
                    result = run()
                    mine.append((time.perf_counter() - began) * 1e3)
                if result is not None and not same(result, references[index]):
                    failures.append(f"caller {index + 1}'s result differs from the same input run alone")
            except Exception as error:
                failures.append(f"{type(error).__name__}: {first_line(error, 200)}")

        threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(len(runs))]
        for thread in threads:
            thread.start()
        began = time.perf_counter()
        stop_at[0] = began + self.duration_s
        start.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        if failures:
            raise ConcurrencyFailure(f"under {len(runs)} concurrent caller(s): {failures[0]}")
        pooled = [latency for mine in latencies for latency in mine]
        if not pooled:
            raise ConcurrencyFailure(f"no request finished in {self.duration_s:g} s")
        return pooled, elapsed


def _same(result: torch.Tensor, reference: torch.Tensor) -> bool:
    """The same runtime on the same input: equal up to a reduction order that threads may change."""
    result = result.detach().float().cpu()
    return result.shape == reference.shape and torch.allclose(
        result, reference.float().cpu(), rtol=1e-3, atol=1e-5
    )


def _same_distribution(result: torch.Tensor, reference: torch.Tensor) -> bool:
    # The labels name the row a Comparison belongs to; here it only says pass or fail.
    labels = {"model": "generator", "backend": "", "device": "", "batch": len(result)}
    return compare_distribution(result.detach().float().cpu(), reference.float().cpu(), **labels).passed


def server_scenarios(concurrency: list[int], duration_s: float) -> tuple[Server, ...]:
    return tuple(Server(level, duration_s) for level in concurrency)
