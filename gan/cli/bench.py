"""`gan bench` and `gan bench compare`: how fast every runtime runs the models and the steps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from gan.cli.common import Strict, Untrusted, console, csv_list, err_console, int_list, user_errors


class RunByDefault(TyperGroup):
    """`gan bench [EXPORT_DIR] [options]` runs the benchmark; `gan bench compare A B` compares."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


ExportDir = Annotated[
    Path | None,
    typer.Argument(
        help="Export dir to benchmark exactly; without one, a fresh seeded model is exported.",
        show_default=False,
    ),
]
BatchSizes = Annotated[
    str | None,
    typer.Option(
        help="Batch size, or a comma list for a sweep (e.g. 1,64,1024); with --scenario server, each "
        "request's batch. [default: 64; 1 with --scenario server]",
        show_default=False,
    ),
]
Scenario = Annotated[
    str,
    typer.Option(
        help="loop: each workload called in a loop, timed per call. server: concurrent callers of G, "
        "each asking its own batch, for --duration seconds at each --concurrency level (throughput, "
        "p50 and p99 latency)."
    ),
]
Concurrency = Annotated[str, typer.Option(help="With --scenario server: comma list of concurrent callers.")]
Duration = Annotated[
    float, typer.Option(help="With --scenario server: seconds each backend serves at each concurrency level.")
]
InProcess = Annotated[
    bool,
    typer.Option(
        help="Measure every backend in this one process instead of a fresh process each: faster to "
        "start, but without memory figures, and one runtime's threads may slow the next."
    ),
]
Workloads = Annotated[str, typer.Option(help="Comma list: forward, train.")]
Backends = Annotated[
    str | None,
    typer.Option(
        help="Comma list of backends; `gan bench backends` lists them and what each can do. "
        "[default: all that bench runs on the device]",
        show_default=False,
    ),
]
JsonPath = Annotated[
    Path | None, typer.Option("--json", help="Write the full results here.", show_default=False)
]
Plot = Annotated[Path | None, typer.Option(help="Write a throughput chart PNG here.", show_default=False)]
Quick = Annotated[
    bool,
    typer.Option(
        help="Fewer iterations and less time per row, within a 50 s budget for the rows (see --budget): "
        "the command ends within a minute."
    ),
]
Budget = Annotated[
    float | None,
    typer.Option(
        help="Seconds the rows may take, wall-clock: a row still running then is stopped, and it "
        "and the rows not started are listed as skipped [default: 50 with --quick, else no limit].",
        show_default=False,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(help="torch and ONNX Runtime intra-op threads [default: torch's].", show_default=False),
]
Arch = Annotated[
    str | None,
    typer.Option(
        help="Architecture: of the fresh model without EXPORT_DIR [default: mlp]; with one, it gives "
        "the eager, compile and train rows for a model defined in your own file.",
        show_default=False,
    ),
]
Wide = Annotated[bool, typer.Option(help="Also show p90, p99, IQR, GFLOP/s and first-call columns.")]
Precisions = Annotated[
    str | None,
    typer.Option(
        "--precision",
        help="Comma list of precisions to bench (fp32, int8-dynamic, int8-static, fp16, bf16). "
        "[default: fp32 and every variant the export has, plus bf16 where the CPU has it natively]",
        show_default=False,
    ),
]


@user_errors
def run(
    export_dir: ExportDir = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch_size: BatchSizes = None,
    workloads: Workloads = "forward,train",
    backends: Backends = None,
    json_path: JsonPath = None,
    plot: Plot = None,
    quick: Quick = False,
    threads: Threads = None,
    arch: Arch = None,
    wide: Wide = False,
    untrusted: Untrusted = False,
    strict: Strict = False,
    precision: Precisions = None,
    budget: Budget = None,
    scenario: Scenario = "loop",
    concurrency: Concurrency = "1,2,4",
    duration: Duration = 1.0,
    in_process: InProcess = False,
):
    """Measure forward passes (G, D, D(G(z))) and training steps (D, G, full iteration), or with
    --scenario server, G answering concurrent callers.

    Reports median/p90/p99/IQR, throughput, speed-up vs eager, GFLOP/s and % of the matmul peak
    measured in the same run; and, each backend measured in a fresh process, its load time, first
    call, resident memory after loading, peak memory while running and file size. A backend that
    cannot run here is listed with the reason; the exit code is non-zero only if you named it in
    --backends, or a row failed.
    """
    from gan.bench.chart import save_chart
    from gan.bench.runner import BenchConfig, run_bench
    from gan.bench.table import bench_table
    from gan.device import resolve_device
    from gan.files.atomic import check_writable

    config = BenchConfig(
        device=resolve_device(device),
        batch_sizes=int_list(batch_size, "--batch-size") if batch_size else None,
        workloads=csv_list(workloads),
        backends=csv_list(backends) if backends else None,
        quick=quick,
        threads=threads,
        arch=arch,
        trust_code=not untrusted,
        strict=strict,
        precisions=csv_list(precision) if precision else None,
        budget_s=budget,
        scenario=scenario,
        concurrency=int_list(concurrency, "--concurrency"),
        duration_s=duration,
        isolate=not in_process,
    )
    for path in (json_path, plot):
        if path is not None:
            check_writable(path)  # before the benchmark runs, not after, so nothing is lost
    results = run_bench(config, export_dir, console=console)
    console.print(bench_table(results, wide=wide))
    if json_path is not None:
        results.save(json_path)
        console.print(f"results: {json_path}")
    if plot is not None:
        save_chart(results, plot)
        console.print(f"chart: {plot}")
    if skipped := [r for r in results.rows if r.status == "skipped"]:
        names = ", ".join(dict.fromkeys(f"{r.workload} on {r.backend}" for r in skipped))
        err_console.print(
            f"[yellow]skipped:[/] {len(skipped)} row(s) over the {config.budget_s:g} s budget: {names}",
            highlight=False,
        )
    if failed := results.failed_named_rows:
        for backend, status, reason in dict.fromkeys((r.backend, r.status, r.reason) for r in failed):
            err_console.print(f"[red]{status}:[/] {backend}: {reason}", highlight=False)
        raise typer.Exit(1)


@user_errors
def compare(
    base: Annotated[Path, typer.Argument(help="The baseline results (gan bench --json).")],
    new: Annotated[Path, typer.Argument(help="The results to judge.")],
    fail_above: Annotated[
        float, typer.Option(help="Exit 1 if any common row's median grew by more than this percentage.")
    ] = 10.0,
    fail_above_memory: Annotated[
        float,
        typer.Option(
            help="Exit 1 if any row's RSS after loading or peak RSS grew by more than this percentage "
            "(and by more than 1 MB)."
        ),
    ] = 20.0,
    fail_above_load: Annotated[
        float,
        typer.Option(
            help="Exit 1 if any row's load time grew by more than this percentage (and by more than 2 ms)."
        ),
    ] = 50.0,
):
    """Per-row ratios of two bench results (time, memory, load); exit 1 on a regression above a
    threshold. Results of an older toolkit without memory figures are compared in time."""
    from gan.bench.compare import compare_results
    from gan.bench.results import BenchResults

    table, regressions = compare_results(
        BenchResults.load(base), BenchResults.load(new), fail_above, fail_above_memory, fail_above_load
    )
    console.print(table)
    if regressions:
        limits = {"time": fail_above, "memory": fail_above_memory, "load": fail_above_load}
        for gate in dict.fromkeys(r.gate for r in regressions):
            count = len({id(r.row) for r in regressions if r.gate == gate})
            err_console.print(f"[bold red]{count} row(s) regressed in {gate} by more than {limits[gate]:g}%")
        raise typer.Exit(1)


@user_errors
def backends():
    """List every backend: the devices it runs on, whether it has a forward pass and a training
    path, where parity checks it, where bench runs it by default, and whether it can run here."""
    import torch
    from rich.table import Table

    from gan.export.backends import BACKENDS

    table = Table(title="backends", title_justify="left")
    for column in ("backend", "devices", "forward", "train", "parity on", "bench runs it on", "here"):
        table.add_column(column)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for spec in BACKENDS:
        here = [d.type for d in devices if spec.problem(d) is None]
        table.add_row(
            spec.name,
            "/".join(spec.devices),
            "yes" if spec.forward else "no",
            "yes" if spec.training else "no",
            "/".join(spec.parity_on) or "-",
            "/".join(spec.bench_on) or "-",
            "/".join(here) or "[yellow]no",
        )
    console.print(table)
    for spec in BACKENDS:
        precisions = f" [dim](precisions: {', '.join(spec.precisions)})" if len(spec.precisions) > 1 else ""
        console.print(f"[bold]{spec.name}[/]: {spec.summary}{precisions}", highlight=False)
