"""The bench report three ways: a rich table grouped by workload, a bar chart, and JSON; plus compare."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich import box  # noqa: E402
from rich.console import Group  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from gan.atomic import write_bytes, write_text  # noqa: E402
from gan.bench.rows import BenchRow  # noqa: E402
from gan.errors import GanError  # noqa: E402

# (header, value) per column; the wide ones appear with --wide and are always in the JSON.
COLUMNS = [
    ("median ms", lambda r: f"{r.median_ms:.4f}"),
    ("samples/s", lambda r: f"{r.throughput_per_s:,.0f}"),
    ("vs eager", lambda r: f"{r.speedup_vs_eager:.2f}x" if r.speedup_vs_eager else ""),
    ("% peak", lambda r: f"{r.pct_of_peak:.1f}%" if r.pct_of_peak is not None else ""),
]
WIDE_COLUMNS = [
    ("p90 ms", lambda r: f"{r.p90_ms:.4f}"),
    ("p99 ms", lambda r: f"{r.p99_ms:.4f}"),
    ("IQR ms", lambda r: f"{r.iqr_ms:.4f}"),
    ("GFLOP/s", lambda r: f"{r.gflops:.1f}" if r.gflops is not None else ""),
    ("cold ms", lambda r: f"{r.cold_ms:.1f}"),
]


SHORT_STATUS = {"n/a": "n/a", "unavailable": "unavail.", "error": "ERROR"}


def rows_of(report: dict) -> list[BenchRow]:
    return [BenchRow.from_dict(r) for r in report["results"]]


def numbered_notes(rows: list[BenchRow]) -> tuple[dict[str, int], list[str]]:
    """Each distinct reason once, numbered, so every table row stays on one line."""
    numbers: dict[str, int] = {}
    for r in rows:
        if not r.ok and r.reason not in numbers:
            numbers[r.reason] = len(numbers) + 1
    return numbers, [f"[{n}] {reason}" for reason, n in numbers.items()]


def bench_table(report: dict, wide: bool = False) -> Group:
    """The rich table (one line per row) with the n/a and unavailable reasons as notes below."""
    env, config = report["environment"], report["config"]
    rows = rows_of(report)
    numbers, notes = numbered_notes(rows)
    columns = COLUMNS + (WIDE_COLUMNS if wide else [])
    table = Table(
        title=f"gan bench: {config['arch']['name']}, {env['device_name']} ({config['device']}), "
        f"{env['torch_threads']} threads; peak {env['matmul_peak']['gflops']:.0f} GFLOP/s "
        f"({env['matmul_peak']['engine']})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    for header in ("workload", "backend", "batch", "status", *(h for h, _ in columns)):
        left = header in ("workload", "backend", "status")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    previous = None
    for r in rows:
        if previous is not None and (r.workload, r.batch_size) != previous:
            table.add_section()
        previous = (r.workload, r.batch_size)
        if not r.ok:
            label = Text(f"{SHORT_STATUS[r.status]} [{numbers[r.reason]}]", style="yellow")
            table.add_row(r.workload, r.backend, str(r.batch_size), label)
            continue
        status = Text("ok") + Text("~" if r.noisy else "", style="yellow")
        table.add_row(r.workload, r.backend, str(r.batch_size), status, *(value(r) for _, value in columns))
    legend = "ok~: noisy, IQR over 10% of the median. % peak: of the best fp32 GEMM engine in this run."
    return Group(table, *(Text(note, style="dim") for note in [legend, *gemm_notes(env), *notes]))


def gemm_notes(env: dict) -> list[str]:
    """What `gan train --gemm auto` picks for nn.Linear at each batch here, and why."""
    return [
        f"GEMM engine at batch {batch}: {choice['engine']} ({choice['reason']})"
        for batch, choice in (env.get("gemm_engine") or {}).items()
    ]


def markdown_table(report: dict) -> str:
    rows = rows_of(report)
    numbers, notes = numbered_notes(rows)
    lines = [
        "| workload | backend | batch | status | " + " | ".join(h for h, _ in COLUMNS) + " |",
        "|---|---|---:|---|" + "---:|" * len(COLUMNS),
    ]
    for r in rows:
        if not r.ok:
            cells = [f"{SHORT_STATUS[r.status]} [{numbers[r.reason]}]"] + [""] * len(COLUMNS)
        else:
            cells = ["ok" + (" (noisy)" if r.noisy else "")] + [value(r) for _, value in COLUMNS]
        lines.append(f"| {r.workload} | {r.backend} | {r.batch_size} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def save_json(report: dict, path: Path) -> None:
    write_text(path, json.dumps(report, indent=2))


def load_json(path: Path) -> dict:
    """A bench report, with every row checked, or one line saying what is wrong."""
    try:
        report = json.loads(Path(path).read_text())
        rows_of(report)
        report["environment"]["device_name"], report["config"]["device"]
    except FileNotFoundError:
        raise GanError(f"bench report {path} does not exist") from None
    except IsADirectoryError:
        raise GanError(f"bench report {path} is a directory") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise GanError(f"{path} is not a gan bench JSON report ({type(error).__name__}: {error})") from None
    return report


def save_chart(report: dict, path: Path) -> None:
    """Throughput (samples/s, log scale) against batch size, one line per backend and one panel
    per workload: where each runtime takes over as the batch grows. One batch size: bars."""
    rows = [r for r in rows_of(report) if r.ok]
    workloads = list(dict.fromkeys(r.workload for r in rows_of(report)))
    backends = list(dict.fromkeys(r.backend for r in rows))
    batches = sorted({r.batch_size for r in rows_of(report)})
    columns = min(3, len(workloads))
    fig_rows = -(-len(workloads) // columns)
    fig, axes = plt.subplots(fig_rows, columns, figsize=(4.2 * columns, 3.4 * fig_rows), squeeze=False)
    colors = {b: plt.cm.tab10(i % 10) for i, b in enumerate(backends)}
    for ax, workload in zip(axes.flat, workloads):
        for i, backend in enumerate(backends):
            points = sorted(
                (r.batch_size, r.throughput_per_s)
                for r in rows
                if (r.workload, r.backend) == (workload, backend)
            )
            if not points:
                continue
            if len(batches) > 1:
                ax.plot(*zip(*points), marker="o", color=colors[backend], label=backend)
                ax.set_xscale("log", base=2)
            else:
                ax.bar(i, points[0][1], color=colors[backend], label=backend)
        ax.set_yscale("log")
        ax.set_title(workload, fontsize=10)
        ax.set_xlabel("batch size" if len(batches) > 1 else "")
        if len(batches) == 1:
            ax.set_xticks([])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(workloads) :]:
        ax.axis("off")
    axes.flat[0].set_ylabel("samples per second (log)")
    handles = {label: h for ax in axes.flat for h, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncols=min(5, len(handles)), fontsize=8)
    config = report["config"]
    fig.suptitle(f"{config['arch']['name']} GAN, {report['environment']['device_name']} ({config['device']})")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def compare_reports(base: dict, new: dict, fail_above_pct: float) -> tuple[Table, list[BenchRow]]:
    """Rows present and ok in both, keyed by workload/backend/device/batch; ratio = new / base median."""

    def key(r: BenchRow):
        return (r.workload, r.backend, r.device, r.batch_size)

    base_rows = {key(r): r for r in rows_of(base) if r.ok}
    table = Table(title=f"median time, new / base (regression threshold +{fail_above_pct:g}%)")
    for column in ("workload", "backend", "device", "batch", "base ms", "new ms", "new/base", "verdict"):
        table.add_column(column, justify="left" if column in ("workload", "backend", "device") else "right")
    regressions = []
    common = [r for r in rows_of(new) if r.ok and key(r) in base_rows]
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
