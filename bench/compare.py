"""`gan bench compare`: two saved runs row by row, and which rows regressed: in time (the median),
in memory (RSS after loading and the peak while running) and in load time, each against its own
threshold. A results file of format 1 has no memory or load figures; its rows are compared in time."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from gan.bench.results import BenchResults
from gan.bench.rows import BenchRow
from gan.errors import GanError

# Changes smaller than these are noise whatever their percentage (an allocator's page, a timer's tick).
MEMORY_FLOOR_MB, LOAD_FLOOR_MS = 1.0, 2.0


@dataclass(frozen=True)
class Gate:
    """One figure compared between the runs: regressed when it grew by more than `pct` and by more
    than `floor` in its own unit."""

    name: str
    fields: tuple[str, ...]
    pct: float | None  # None: not gated
    floor: float = 0.0


@dataclass(frozen=True)
class Regression:
    row: BenchRow
    gate: str  # "time", "memory" or "load"
    field: str
    ratio: float


def compare_results(
    base: BenchResults,
    new: BenchResults,
    fail_above_pct: float,
    memory_pct: float | None = None,
    load_pct: float | None = None,
) -> tuple[Table, list[Regression]]:
    """Rows present and ok in both, keyed by workload/backend/device/batch/callers; each gated
    figure's ratio is new / base."""
    gates = (
        Gate("time", ("median_ms",), fail_above_pct),
        Gate("memory", ("rss_mb", "peak_rss_mb"), memory_pct, MEMORY_FLOOR_MB),
        Gate("load", ("load_ms",), load_pct, LOAD_FLOOR_MS),
    )
    base_rows = {_key(r): r for r in base.rows if r.ok}
    common = [r for r in new.rows if r.ok and _key(r) in base_rows]
    if not common:
        raise GanError(
            "the two reports have no benchmark row in common (same workload, backend, device, batch)"
        )
    thresholds = ", ".join(f"{g.name} +{g.pct:g}%" for g in gates if g.pct is not None)
    table = Table(title=f"new / base (regression thresholds: {thresholds})")
    headers = ("workload", "backend", "batch", "base ms", "new ms", "time", "RSS", "peak", "load", "verdict")
    for column in headers:
        table.add_column(column, justify="left" if column in ("workload", "backend", "verdict") else "right")
    regressions = []
    for r in common:
        before = base_rows[_key(r)]
        ratios = {f: _ratio(before, r, f) for g in gates for f in g.fields}
        found = [
            Regression(r, g.name, f, ratios[f])
            for g in gates
            if g.pct is not None
            for f in g.fields
            if ratios[f] is not None and _regressed(before, r, f, g)
        ]
        regressions += found
        verdict = (
            "[bold red]regressed: " + ", ".join(dict.fromkeys(x.gate for x in found))
            if found
            else ("[green]faster" if ratios["median_ms"] < 1 else "ok")
        )
        workload = r.workload + (f" x{r.concurrency}" if r.concurrency else "")
        cells = [_shown(ratios[f]) for f in ("median_ms", "rss_mb", "peak_rss_mb", "load_ms")]
        table.add_row(
            workload,
            r.backend,
            str(r.batch_size),
            f"{before.median_ms:.4f}",
            f"{r.median_ms:.4f}",
            *cells,
            verdict,
        )
    return table, regressions


def _key(r: BenchRow) -> tuple:
    return (r.workload, r.backend, r.device, r.batch_size, r.concurrency)


def _ratio(before: BenchRow, after: BenchRow, field: str) -> float | None:
    old, new = getattr(before, field), getattr(after, field)
    if old is None or new is None:
        return None
    return new / old if old > 0 else (1.0 if new <= 0 else float("inf"))


def _regressed(before: BenchRow, after: BenchRow, field: str, gate: Gate) -> bool:
    old, new = getattr(before, field), getattr(after, field)
    return (new - old) > gate.floor and (_ratio(before, after, field) - 1) * 100 > gate.pct


def _shown(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.3f}"
