"""What `gan bench` measures, one scenario per workload: a forward pass of G, D or D(G(z)), or a
training step (the D step, the G step, the full iteration). Each `run(subject, backend, batch)`
times one backend at one batch and returns its row; the runner scales it by FLOPs and the peak.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from gan.bench.footprint import Peak
from gan.bench.rows import BenchRow
from gan.bench.subject import Load, Subject
from gan.bench.timing import measure
from gan.errors import EnvironmentMissing, GanError
from gan.export.backends import ArtifactMissing, BackendSpec, NotApplicable, Unavailable, Unsupported
from gan.models.calls import UserModelError, first_line

NO_DISCRIMINATOR = "no discriminator: a generator-only model"


@dataclass(frozen=True)
class Forward:
    """Inference of one model at a batch."""

    workload: str
    model: str  # "generator", "discriminator" or "chain" (D(G(z))); also its FLOP count's key
    family: ClassVar[str] = "forward"  # the rows one fresh process measures together (isolated)

    @property
    def flops_key(self) -> str:
        return self.model

    def precisions(self, subject: Subject, backend: BackendSpec) -> list[str]:
        return subject.precisions(backend)

    def run(self, subject: Subject, backend: BackendSpec, batch: int, precision: str = "fp32") -> BenchRow:
        def bind() -> Callable:
            if self.model != "generator" and not subject.has_discriminator:
                raise NotApplicable(NO_DISCRIMINATOR)
            built = subject.forward_backend(backend, self.model, precision)
            return built.bind(*subject.inputs(batch)[self.model])

        row = BenchRow(self.workload, row_name(backend, precision), str(subject.device), batch)
        row.precision = precision
        row = timed_row(row, bind, subject)
        with_load(row, subject.load_of(backend, self.model, precision))
        row.artifact_mb = subject.artifact_mb(backend, self.model, precision)
        return row

    def skipped(self, backend: BackendSpec, batch: int, precision: str, budget_s: float | None) -> BenchRow:
        return skipped_row(self.workload, backend, batch, precision, budget_s)


@dataclass(frozen=True)
class TrainStep:
    """One training step, both Adam updates included, on synthetic data of the model's shapes."""

    workload: str
    step: str  # "d_step", "g_step" or "iteration" (gan.bench.train_variants); its FLOP count's key
    family: ClassVar[str] = "train"

    @property
    def flops_key(self) -> str:
        return self.step

    def precisions(self, subject: Subject, backend: BackendSpec) -> list[str]:
        """fp32, and bf16 autocast where the backend trains it (exported files do not train)."""
        return [p for p in ("fp32", "bf16") if p in backend.precisions]

    def run(self, subject: Subject, backend: BackendSpec, batch: int, precision: str = "fp32") -> BenchRow:
        def bind() -> Callable:
            if not subject.has_discriminator:
                raise NotApplicable(NO_DISCRIMINATOR)
            variant = subject.train_variant(backend, batch, precision)
            if self.step in variant.not_applicable:
                raise NotApplicable(variant.not_applicable[self.step])
            return variant.runs[self.step]

        row = BenchRow(self.workload, row_name(backend, precision), str(subject.device), batch)
        row.precision = precision
        row = timed_row(row, bind, subject)
        return with_load(row, subject.train_load_of(backend, batch, precision))

    def skipped(self, backend: BackendSpec, batch: int, precision: str, budget_s: float | None) -> BenchRow:
        return skipped_row(self.workload, backend, batch, precision, budget_s)


def with_load(row: BenchRow, load: Load | None) -> BenchRow:
    """The row's load figures; its peak becomes its models' own memory plus the most the run
    added above it, so that a model loaded earlier in the same process for another row (G,
    before D's row) is not in D's peak."""
    if load is not None:
        row.load_ms, row.rss_mb = load.ms, load.rss_mb
    if row.peak_rss_mb is not None and load is not None and load.rss_mb is not None:
        row.peak_rss_mb += load.rss_mb
    return row


def skipped_row(
    workload: str, backend: BackendSpec, batch: int, precision: str, budget_s: float | None
) -> BenchRow:
    """A row the time budget left no room for (None: a row not run for a reason the caller
    gives); the device is not known without running it."""
    row = BenchRow(workload, row_name(backend, precision), "-", batch, precision=precision)
    if budget_s is None:
        return _with_status(row, "skipped", "not run")
    return _with_status(row, "skipped", f"the {budget_s:g} s budget ran out first (--budget raises it)")


SCENARIOS = {
    "forward": (
        Forward("forward G", "generator"),
        Forward("forward D", "discriminator"),
        Forward("forward D(G(z))", "chain"),
    ),
    "train": (
        TrainStep("train D step", "d_step"),
        TrainStep("train G step", "g_step"),
        TrainStep("train iteration", "iteration"),
    ),
}


def row_name(backend: BackendSpec, precision: str) -> str:
    """ "onnxruntime", or "onnxruntime-int8-static" for a variant, as parity names it too."""
    return backend.name if precision == "fp32" else f"{backend.name}-{precision}"


def timed_row(row: BenchRow, bind: Callable[[], Callable], subject: Subject) -> BenchRow:
    """The row with the timings of the call `bind` returns, or the reason it could not run."""

    def fill(row: BenchRow) -> None:
        run = bind()  # builds (loads) the backend the first time: not part of the peak below
        with subject.memory.peak() if subject.memory else contextlib.nullcontext() as peak:
            measurement = measure(run, subject.device, subject.stop_rule)
        for key, value in measurement.summary().items():
            setattr(row, key, value)
        row.samples_ms = measurement.samples_ms
        row.throughput_per_s = row.batch_size / (row.median_ms / 1e3)
        with_peak(row, peak)

    return guarded_row(row, fill)


def with_peak(row: BenchRow, peak: Peak | None) -> None:
    if peak is not None:
        row.peak_rss_mb = peak.rss_mb
        row.max_memory_allocated_mb = peak.cuda_allocated_mb
        row.max_memory_reserved_mb = peak.cuda_reserved_mb


class RowFailure(Exception):
    """The measurement itself failed (a wrong answer, a caller that raised); the message is the
    row's whole reason."""


def guarded_row(row: BenchRow, fill: Callable[[BenchRow], None]) -> BenchRow:
    """`fill(row)` measures the row; whatever it raises becomes the row's status and reason, so
    one backend failing never takes the other rows with it."""
    try:
        fill(row)
    except Unsupported as error:  # the runtime cannot take this model; the artifact is fine
        return _with_status(row, "unsupported", str(error))
    except (Unavailable, EnvironmentMissing) as error:
        return _with_status(row, "unavailable", str(error))
    except NotApplicable as error:
        return _with_status(row, "n/a", str(error))
    # Its file failed to export, the model raised, or the measurement found the backend wrong.
    except (ArtifactMissing, UserModelError, RowFailure) as error:
        return _with_status(row, "error", str(error))
    except GanError as error:
        return _with_status(row, "unavailable", str(error))
    except Exception as error:
        return _with_status(row, "error", f"{type(error).__name__}: {first_line(error)}")
    return row


def _with_status(row: BenchRow, status: str, reason: str) -> BenchRow:
    row.status, row.reason = status, reason
    return row
