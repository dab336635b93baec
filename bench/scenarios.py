"""What `gan bench` measures, one scenario per workload: a forward pass of G, D or D(G(z)), or a
training step (the D step, the G step, the full iteration). Each `run(subject, backend, batch)`
times one backend at one batch and returns its row; the runner scales it by FLOPs and the peak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gan.bench.rows import BenchRow
from gan.bench.subject import Subject
from gan.bench.timing import measure
from gan.errors import EnvironmentMissing, GanError
from gan.export.backends import ArtifactMissing, BackendSpec, NotApplicable, Unavailable, Unsupported
from gan.models.calls import UserModelError

NO_DISCRIMINATOR = "no discriminator: a generator-only model"


@dataclass(frozen=True)
class Forward:
    """Inference of one model at a batch."""

    workload: str
    model: str  # "generator", "discriminator" or "chain" (D(G(z))); also its FLOP count's key

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
        return timed_row(row, bind, subject)

    def skipped(self, backend: BackendSpec, batch: int, precision: str, budget_s: float) -> BenchRow:
        return skipped_row(self.workload, backend, batch, precision, budget_s)


@dataclass(frozen=True)
class TrainStep:
    """One training step, both Adam updates included, on synthetic data of the model's shapes."""

    workload: str
    step: str  # "d_step", "g_step" or "iteration" (gan.bench.train_variants); its FLOP count's key

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
        return timed_row(row, bind, subject)

    def skipped(self, backend: BackendSpec, batch: int, precision: str, budget_s: float) -> BenchRow:
        return skipped_row(self.workload, backend, batch, precision, budget_s)


def skipped_row(workload: str, backend: BackendSpec, batch: int, precision: str, budget_s: float) -> BenchRow:
    """A row the time budget left no room for; the device is not known without running it."""
    row = BenchRow(workload, row_name(backend, precision), "-", batch, precision=precision)
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
    try:
        measurement = measure(bind(), subject.device, subject.stop_rule)
    except Unsupported as error:  # the runtime cannot take this model; the artifact is fine
        return _with_status(row, "unsupported", str(error))
    except (Unavailable, EnvironmentMissing) as error:
        return _with_status(row, "unavailable", str(error))
    except NotApplicable as error:
        return _with_status(row, "n/a", str(error))
    except (ArtifactMissing, UserModelError) as error:  # its file failed to export, or the model raised
        return _with_status(row, "error", str(error))
    except GanError as error:
        return _with_status(row, "unavailable", str(error))
    except Exception as error:  # one backend failing must not take the other rows with it
        first = (str(error).strip().splitlines() or [""])[0][:300]
        return _with_status(row, "error", f"{type(error).__name__}: {first}")
    for key, value in measurement.summary().items():
        setattr(row, key, value)
    row.samples_ms = measurement.samples_ms
    row.throughput_per_s = row.batch_size / (row.median_ms / 1e3)
    return row


def _with_status(row: BenchRow, status: str, reason: str) -> BenchRow:
    row.status, row.reason = status, reason
    return row
