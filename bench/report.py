"""The bench report three ways: a rich table grouped by workload, a bar chart, and JSON; plus compare."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.table import Table  # noqa: E402

from gan.atomic import write_bytes, write_text  # noqa: E402
from gan.errors import GanError  # noqa: E402


def bench_table(report: dict) -> Table:
    env, config = report["environment"], report["config"]
    peak = env["matmul_peak"]["gflops"]
    table = Table(
        title=f"gan bench: {config['arch']}, batch {config['batch_size']}, {env['device_name']} "
        f"({config['device']}), {env['torch_threads']} threads; matmul peak {peak:.0f} GFLOP/s"
    )
    for column in (
        "workload",
        "backend",
        "status",
        "median ms",
        "p90 ms",
        "p99 ms",
        "IQR ms",
        "samples/s",
        "vs eager",
        "GFLOP/s",
        "% peak",
        "cold ms",
        "note",
    ):
        table.add_column(column, justify="left" if column in ("workload", "backend", "status") else "right")
    previous = None
    for r in report["results"]:
        if previous is not None and r["workload"] != previous:
            table.add_section()
        previous = r["workload"]
        if r["status"] != "ok":
            table.add_row(r["workload"], r["backend"], f"[yellow]{r['status']}", *[""] * 9, r["reason"])
            continue
        noisy = " [yellow](noisy)" if r["noisy"] else ""
        table.add_row(
            r["workload"],
            r["backend"],
            "ok" + noisy,
            f"{r['median_ms']:.4f}",
            f"{r['p90_ms']:.4f}",
            f"{r['p99_ms']:.4f}",
            f"{r['iqr_ms']:.4f}",
            f"{r['throughput_per_s']:,.0f}",
            f"{r['speedup_vs_eager']:.2f}x" if r["speedup_vs_eager"] else "",
            f"{r['gflops']:.1f}",
            f"{r['pct_of_peak']:.1f}%",
            f"{r['cold_ms']:.1f}",
            "",
        )
    return table


def markdown_table(report: dict) -> str:
    lines = [
        "| workload | backend | status | median ms | p90 ms | samples/s | vs eager | GFLOP/s | % peak |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        if r["status"] != "ok":
            lines.append(f"| {r['workload']} | {r['backend']} | {r['status']}: {r['reason']} | | | | | | |")
            continue
        lines.append(
            f"| {r['workload']} | {r['backend']} | ok{' (noisy)' if r['noisy'] else ''} | "
            f"{r['median_ms']:.3f} | {r['p90_ms']:.3f} | {r['throughput_per_s']:,.0f} | "
            f"{r['speedup_vs_eager']:.2f}x | {r['gflops']:.1f} | {r['pct_of_peak']:.1f}% |"
        )
    return "\n".join(lines)


def save_json(report: dict, path: Path) -> None:
    write_text(path, json.dumps(report, indent=2))


def load_json(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text())
        report["results"]
    except FileNotFoundError:
        raise GanError(f"bench report {path} does not exist") from None
    except (ValueError, KeyError, TypeError) as error:
        raise GanError(f"{path} is not a gan bench JSON report ({type(error).__name__})") from None
    return report


def save_chart(report: dict, path: Path) -> None:
    """Throughput (samples/s, log scale) by backend, one group of bars per workload."""
    rows = [r for r in report["results"] if r["status"] == "ok"]
    workloads = list(dict.fromkeys(r["workload"] for r in report["results"]))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(workloads)), 4.8))
    width = 0.8 / max(1, len(backends))
    values = {(r["workload"], r["backend"]): r["throughput_per_s"] for r in rows}
    for i, backend in enumerate(backends):
        xs = [w + i * width for w in range(len(workloads))]
        ys = [values.get((workload, backend), 0) for workload in workloads]
        ax.bar(xs, ys, width, label=backend)
    ax.set_xticks([w + width * (len(backends) - 1) / 2 for w in range(len(workloads))], workloads)
    ax.set_yscale("log")
    ax.set_ylabel("samples per second (log)")
    config = report["config"]
    ax.set_title(
        f"{config['arch']} GAN, batch {config['batch_size']}, {report['environment']['device_name']}"
    )
    ax.legend(fontsize=8, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def compare_reports(base: dict, new: dict, fail_above_pct: float) -> tuple[Table, list[dict]]:
    """Rows present and ok in both, keyed by workload/backend/device/batch; ratio = new / base median."""

    def key(r):
        return (r["workload"], r["backend"], r["device"], r["batch_size"])

    base_rows = {key(r): r for r in base["results"] if r["status"] == "ok"}
    table = Table(title=f"median time, new / base (regression threshold +{fail_above_pct:g}%)")
    for column in ("workload", "backend", "device", "batch", "base ms", "new ms", "new/base", "verdict"):
        table.add_column(column, justify="left" if column in ("workload", "backend", "device") else "right")
    regressions = []
    common = [r for r in new["results"] if r["status"] == "ok" and key(r) in base_rows]
    if not common:
        raise GanError(
            "the two reports have no benchmark row in common (same workload, backend, device, batch)"
        )
    for r in common:
        before = base_rows[key(r)]["median_ms"]
        ratio = r["median_ms"] / before
        regressed = (ratio - 1) * 100 > fail_above_pct
        if regressed:
            regressions.append({**r, "ratio": ratio})
        verdict = "[bold red]regressed" if regressed else ("[green]faster" if ratio < 1 else "ok")
        table.add_row(
            r["workload"],
            r["backend"],
            r["device"],
            str(r["batch_size"]),
            f"{before:.4f}",
            f"{r['median_ms']:.4f}",
            f"{ratio:.3f}",
            verdict,
        )
    return table, regressions
