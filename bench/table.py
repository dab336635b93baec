"""The bench tables on a terminal, one line per row so each fits 100 columns: the timings (grouped
by workload and batch, the reasons of rows that did not run as numbered notes below), then what
each loaded model costs (load time, first call, memory, file size)."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from gan.bench.results import BenchResults
from gan.report.tables import (
    SHORT_STATUS,
    WIDE_BENCH_COLUMNS,
    cell,
    memory_columns,
    numbered_notes,
    timing_columns,
)

LEGEND = (
    "ok~: noisy, IQR over 10% of the median. % peak: of the best fp32 GEMM engine in this run "
    "(measured before and after the rows), for fp32 rows; no int8 or bf16 peak is measured, so "
    "reduced-precision rows show none. >100%*: the peak was under-measured (a busy machine?)."
)
SERVER_LEGEND = (
    "callers: threads calling one loaded G at once, each with its own batch; p50/p99: their pooled "
    "request latency; samples/s: all callers together. ok~: noisy, IQR over 10% of the median."
)
MEMORY_LEGEND = (
    "Each backend, precision and kind of workload ran in a fresh process. load: from its file (eager: "
    "its modules in memory) to ready; RSS: resident memory the load added; peak: that plus the most "
    "the run added while the row ran; file: what the backend reads (eager, compile: the weights, as "
    "a saved state_dict holds them)."
)


def bench_table(results: BenchResults, wide: bool = False) -> Group:
    env, config = results.environment, results.config
    rows = [r.to_dict() for r in results.rows]
    numbers, notes = numbered_notes(r.reason for r in results.rows if not r.ok)
    timing = timing_columns(rows)
    server = any(r.concurrency for r in results.rows)
    columns = timing + (WIDE_BENCH_COLUMNS if wide and not server else ())
    title = (
        f"gan bench: {config['arch']['name']}, {env['device_name']} ({config['device']}), "
        f"{env['torch_threads']} threads" + _peak_title(env["matmul_peak"])
    )
    table = _table(title, columns)
    previous = None
    for r, values in zip(results.rows, rows):
        if previous is not None and (r.workload, r.batch_size) != previous:
            table.add_section()
        previous = (r.workload, r.batch_size)
        if not r.ok:
            label = Text(f"{SHORT_STATUS[r.status]} [{numbers[r.reason]}]", style="yellow")
            table.add_row(r.workload, r.backend, str(r.batch_size), label)
            continue
        status = Text("ok") + Text("~" if r.noisy else "", style="yellow")
        table.add_row(r.workload, r.backend, str(r.batch_size), status, *_cells(values, columns))
    load = env.get("load") or {}
    warning = [Text(f"warning: {load['warning']}", style="yellow")] if load.get("warning") else []
    lines = [SERVER_LEGEND if server else LEGEND, *gemm_notes(env), *notes]
    parts = [table, *warning, *(Text(line, style="dim") for line in lines)]
    if memory := memory_table(results):
        parts += [Text(""), memory, Text(MEMORY_LEGEND, style="dim")]
    return Group(*parts)


def memory_table(results: BenchResults) -> Table | None:
    """Load, first call, memory and file size of every row that ran, where they were measured (a
    bench in one process, or a results file of format 1, has none)."""
    rows = [r.to_dict() for r in results.rows]
    columns = memory_columns(rows)
    if not columns:
        return None
    table = _table("what each loaded model costs", columns, status=False)
    previous = None
    for r, values in zip(results.rows, rows):
        if not r.ok:
            continue
        if previous is not None and (r.workload, r.batch_size) != previous:
            table.add_section()
        previous = (r.workload, r.batch_size)
        workload = r.workload + (f" x{r.concurrency}" if r.concurrency else "")
        table.add_row(workload, r.backend, str(r.batch_size), *_cells(values, columns))
    return table


def _table(title: str, columns: tuple, status: bool = True) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    first = ("workload", "backend", "batch", "status") if status else ("workload", "backend", "batch")
    for header in (*first, *(h for h, _, _ in columns)):
        left = header in ("workload", "backend", "status")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    return table


def _cells(values: dict, columns: tuple) -> list[str]:
    return [cell(values, field, fmt) for _, field, fmt in columns]


def _peak_title(peak: dict) -> str:
    """The loop scenario's matmul peak; the server scenario measures none."""
    return f"; peak {peak['gflops']:.0f} GFLOP/s ({peak['engine']})" if peak.get("gflops") else ""


def gemm_notes(env: dict) -> list[str]:
    """What `gan train --gemm auto` picks for nn.Linear at each batch here, and why."""
    return [
        f"GEMM engine at batch {batch}: {choice['engine']} ({choice['reason']})"
        for batch, choice in (env.get("gemm_engine") or {}).items()
    ]
