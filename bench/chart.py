"""The bench chart: throughput against batch size, one line per backend and one panel per
workload, to see where each runtime takes over as the batch grows (one batch size: bars); a panel
of peak memory against latency, to see what each runtime's speed costs in RAM; and for the server
scenario, throughput and p99 latency against the number of concurrent callers."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

from gan.bench.results import BenchResults  # noqa: E402
from gan.files.atomic import write_bytes  # noqa: E402


def save_chart(results: BenchResults, path: Path) -> None:
    """Throughput (samples/s, log scale) against batch size, one line per backend and one panel
    per workload: where each runtime takes over as the batch grows. One batch size: bars."""
    if any(r.concurrency for r in results.rows):
        return _save_server_chart(results, path)
    rows = [r for r in results.rows if r.ok]
    workloads = list(dict.fromkeys(r.workload for r in results.rows))
    backends = list(dict.fromkeys(r.backend for r in rows))
    batches = sorted({r.batch_size for r in results.rows})
    trade_off = speed_quality_points(results)
    memory = memory_points(results)
    panels = len(workloads) + (1 if trade_off else 0) + (1 if memory else 0)
    columns = min(3, panels)
    fig_rows = -(-panels // columns)
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
    extra = iter(list(axes.flat)[len(workloads) : panels])
    if trade_off:
        _speed_quality_panel(next(extra), trade_off)
    if memory:
        _memory_panel(next(extra), memory, colors)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    axes.flat[0].set_ylabel("samples per second (log)")
    handles = {
        label: h
        for ax in list(axes.flat)[: len(workloads)]
        for h, label in zip(*ax.get_legend_handles_labels())
    }
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncols=min(5, len(handles)), fontsize=8)
    _finish(fig, results, path)


def _finish(fig, results: BenchResults, path: Path) -> None:
    config = results.config
    fig.suptitle(f"{config['arch']['name']} GAN, {results.environment['device_name']} ({config['device']})")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def memory_points(results: BenchResults) -> list[tuple[str, float, float]]:
    """(backend, peak MB, median ms) of every forward-G row at the largest batch that has a peak."""
    rows = [r for r in results.rows if r.ok and r.workload == "forward G" and r.peak_rss_mb is not None]
    if not rows:
        return []
    batch = max(r.batch_size for r in rows)
    return [(r.backend, r.peak_rss_mb, r.median_ms) for r in rows if r.batch_size == batch]


def _memory_panel(ax, points: list[tuple[str, float, float]], colors: dict) -> None:
    for name, peak_mb, median_ms in points:
        ax.scatter(peak_mb, median_ms, color=colors.get(name, "tab:gray"), zorder=3)
        ax.annotate(name, (peak_mb, median_ms), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_title("forward G: peak memory vs latency\n(lower left is better)", fontsize=9)
    ax.set_xlabel("peak RSS: the loaded model and its run (MB)")
    ax.set_ylabel("median ms")
    ax.grid(alpha=0.3)


def _save_server_chart(results: BenchResults, path: Path) -> None:
    """Throughput and p99 latency against concurrent callers, one line per backend."""
    rows = [r for r in results.rows if r.ok and r.concurrency]
    backends = list(dict.fromkeys(r.backend for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), squeeze=False)
    for i, backend in enumerate(backends):
        mine = sorted((r.concurrency, r.throughput_per_s, r.p99_ms) for r in rows if r.backend == backend)
        levels = [m[0] for m in mine]
        color = plt.cm.tab10(i % 10)
        axes[0, 0].plot(levels, [m[1] for m in mine], marker="o", color=color, label=backend)
        axes[0, 1].plot(levels, [m[2] for m in mine], marker="o", color=color, label=backend)
    batch = rows[0].batch_size if rows else 1
    for ax, title in zip(axes.flat, (f"throughput, batch {batch} per request", "p99 latency (ms)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("concurrent callers")
        ax.set_xticks(sorted({r.concurrency for r in rows}))  # the levels run, not fractions of them
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("samples per second")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(5, max(1, len(labels))), fontsize=8)
    _finish(fig, results, path)


def speed_quality_points(results: BenchResults) -> list[tuple[str, float, float]]:
    """(backend, FCD increase %, samples/s) of every forward-G row at the largest batch whose
    precision has a measured quality cost (fp32 costs 0 by definition); [] when none was measured
    (gan eval --precision)."""
    costs = results.config.get("quality_cost") or {}
    rows = [r for r in results.rows if r.ok and r.workload == "forward G"]
    if not costs or not rows:
        return []
    batch = max(r.batch_size for r in rows)
    costs = {"fp32": 0.0, **costs}
    return [
        (r.backend, costs[r.precision], r.throughput_per_s)
        for r in rows
        if r.batch_size == batch and r.precision in costs
    ]


def pareto_front(points: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """The points no other beats on both: at least as fast with no larger FCD increase."""
    front, fastest = [], 0.0
    for point in sorted(points, key=lambda p: (p[1], -p[2])):
        if point[2] > fastest:
            front.append(point)
            fastest = point[2]
    return front


def _speed_quality_panel(ax, points: list[tuple[str, float, float]]) -> None:
    front = pareto_front(points)
    for name, cost, speed in points:
        ax.scatter(cost, speed, color="tab:red" if (name, cost, speed) in front else "tab:gray", zorder=3)
        ax.annotate(name, (cost, speed), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.step([p[1] for p in front], [p[2] for p in front], where="post", color="tab:red", alpha=0.5)
    ax.set_title("forward G: speed vs quality cost\n(red: Pareto front)", fontsize=9)
    ax.set_xlabel("FCD increase vs fp32 (%)")
    ax.set_ylabel("samples per second")
    ax.grid(alpha=0.3)
