"""One bench result row: a typed record with its JSON form."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# "skipped": not run, because the bench's time budget (--budget, 60 s with --quick) ran out first.
# "unsupported": the runtime cannot take this model (an operator or a dynamic shape it lacks).
STATUSES = ("ok", "n/a", "unavailable", "unsupported", "error", "skipped")


@dataclass
class BenchRow:
    workload: str
    backend: str
    device: str
    batch_size: int
    status: str = "ok"  # one of STATUSES
    precision: str = "fp32"  # gan.export.precision's names
    reason: str = ""
    median_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    iqr_ms: float | None = None
    mean_ms: float | None = None
    cv: float | None = None
    first_call_ms: float | None = None  # the first call after loading, timed alone
    iterations: int | None = None
    throughput_per_s: float | None = None
    speedup_vs_eager: float | None = None
    gflops: float | None = None
    pct_of_peak: float | None = None
    peak_under_measured: bool | None = None  # above 100% of the peak: the peak was measured low
    noisy: bool | None = None
    # What the model costs to hold, each backend measured in a fresh process (gan.bench.footprint):
    load_ms: float | None = None  # from its files (or modules) to ready to run
    rss_mb: float | None = None  # resident memory after loading, above the same process before
    peak_rss_mb: float | None = None  # rss_mb plus the most this row's run added while it ran
    artifact_mb: float | None = None  # the files this backend reads (eager: the weights' bytes)
    max_memory_allocated_mb: float | None = None  # CUDA: the caching allocator's peaks in this row
    max_memory_reserved_mb: float | None = None
    concurrency: int | None = None  # the server scenario: callers at once, each asking batch_size
    samples_ms: list[float] = field(default_factory=list, repr=False)  # in the JSON, not the repr

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> BenchRow:
        """Raises KeyError/TypeError on a row of the wrong shape; callers turn that into one line."""
        known = {f.name for f in dataclasses.fields(cls)}
        if "cold_ms" in values:  # format 1 named the first call's time cold_ms
            values = {**values, "first_call_ms": values["cold_ms"]}
        row = cls(**{k: v for k, v in values.items() if k in known})
        if row.status not in STATUSES or (row.ok and not isinstance(row.median_ms, (int, float))):
            raise TypeError(f"row {row.workload!r}/{row.backend!r} has status {row.status!r} without timings")
        return row
