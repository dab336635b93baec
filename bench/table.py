"""The bench table on a terminal: one line per row, grouped by workload and batch, with the reasons
of rows that did not run as numbered notes below, so it fits 100 columns."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from gan.bench.results import BenchResults
from gan.report.tables import BENCH_COLUMNS, SHORT_STATUS, WIDE_BENCH_COLUMNS, cell, numbered_notes

LEGEND = (
    "ok~: noisy, IQR over 10% of the median. % peak: of the best fp32 GEMM engine in this run "
    "(measured before and after the rows), for fp32 rows; no int8 or bf16 peak is measured, so "
    "reduced-precision rows show none. >100%*: the peak was under-measured (a busy machine?)."
)


def bench_table(results: BenchResults, wide: bool = False) -> Group:
    env, config = results.environment, results.config
    numbers, notes = numbered_notes(r.reason for r in results.rows if not r.ok)
    columns = BENCH_COLUMNS + (WIDE_BENCH_COLUMNS if wide else ())
    table = Table(
        title=f"gan bench: {config['arch']['name']}, {env['device_name']} ({config['device']}), "
        f"{env['torch_threads']} threads; peak {env['matmul_peak']['gflops']:.0f} GFLOP/s "
        f"({env['matmul_peak']['engine']})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    for header in ("workload", "backend", "batch", "status", *(h for h, _, _ in columns)):
        left = header in ("workload", "backend", "status")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    previous = None
    for r in results.rows:
        if previous is not None and (r.workload, r.batch_size) != previous:
            table.add_section()
        previous = (r.workload, r.batch_size)
        if not r.ok:
            label = Text(f"{SHORT_STATUS[r.status]} [{numbers[r.reason]}]", style="yellow")
            table.add_row(r.workload, r.backend, str(r.batch_size), label)
            continue
        status = Text("ok") + Text("~" if r.noisy else "", style="yellow")
        values = r.to_dict()
        cells = (cell(values, field, fmt) for _, field, fmt in columns)
        table.add_row(r.workload, r.backend, str(r.batch_size), status, *cells)
    load = env.get("load") or {}
    warning = [Text(f"warning: {load['warning']}", style="yellow")] if load.get("warning") else []
    lines = [LEGEND, *gemm_notes(env), *notes]
    return Group(table, *warning, *(Text(line, style="dim") for line in lines))


def gemm_notes(env: dict) -> list[str]:
    """What `gan train --gemm auto` picks for nn.Linear at each batch here, and why."""
    return [
        f"GEMM engine at batch {batch}: {choice['engine']} ({choice['reason']})"
        for batch, choice in (env.get("gemm_engine") or {}).items()
    ]
