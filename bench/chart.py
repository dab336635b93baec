"""The bench chart: throughput against batch size, one line per backend and one panel per
workload, to see where each runtime takes over as the batch grows (one batch size: bars)."""

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
    rows = [r for r in results.rows if r.ok]
    workloads = list(dict.fromkeys(r.workload for r in results.rows))
    backends = list(dict.fromkeys(r.backend for r in rows))
    batches = sorted({r.batch_size for r in results.rows})
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
    config = results.config
    fig.suptitle(f"{config['arch']['name']} GAN, {results.environment['device_name']} ({config['device']})")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
