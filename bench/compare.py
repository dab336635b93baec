"""`gan bench compare`: two saved runs row by row, and which rows regressed."""

from __future__ import annotations

from rich.table import Table

from gan.bench.results import BenchResults
from gan.bench.rows import BenchRow
from gan.errors import GanError


def compare_results(
    base: BenchResults, new: BenchResults, fail_above_pct: float
) -> tuple[Table, list[BenchRow]]:
    """Rows present and ok in both, keyed by workload/backend/device/batch; ratio = new / base median."""

    def key(r: BenchRow):
        return (r.workload, r.backend, r.device, r.batch_size)

    base_rows = {key(r): r for r in base.rows if r.ok}
    table = Table(title=f"median time, new / base (regression threshold +{fail_above_pct:g}%)")
    for column in ("workload", "backend", "device", "batch", "base ms", "new ms", "new/base", "verdict"):
        table.add_column(column, justify="left" if column in ("workload", "backend", "device") else "right")
    regressions = []
    common = [r for r in new.rows if r.ok and key(r) in base_rows]
    if not common:
        raise GanError(
            "the two reports have no benchmark row in common (same workload, backend, device, batch)"
        )
    for r in common:
        before = base_rows[key(r)].median_ms
        ratio = r.median_ms / before if before else float("inf")
        regressed = (ratio - 1) * 100 > fail_above_pct
        if regressed:
            regressions.append(r)
        verdict = "[bold red]regressed" if regressed else ("[green]faster" if ratio < 1 else "ok")
        table.add_row(
            r.workload,
            r.backend,
            r.device,
            str(r.batch_size),
            f"{before:.4f}",
            f"{r.median_ms:.4f}",
            f"{ratio:.3f}",
            verdict,
        )
    return table, regressions
