"""`gan eval` and `gan report`: how good the generator is, and one page about the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gan.cli.common import DataDir, Device, Strict, console, user_errors, warn


@user_errors
def evaluate(
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
    strict: Strict = False,
):
    """Measure quality: FCD, classifier score and class coverage, next to the real-vs-real floor.

    FCD is the Fréchet distance in the features of the dataset's pinned classifier (shipped with
    the toolkit, so figures compare across machines); it is not comparable to published
    Inception-FID.
    """
    from gan.device import resolve_device
    from gan.export.sample import generator_backend
    from gan.quality.evaluation import evaluate_run
    from gan.quality.table import quality_table

    device = resolve_device(device)
    # The run's own G needs no export; any other backend runs the exported one.
    if backend == "eager":
        generator = None
    else:
        generator = generator_backend(run_dir, backend, device, strict=strict, warn=warn)[0]
    result = evaluate_run(
        run_dir,
        generator,
        backend=backend,
        n=n,
        seed=seed,
        device=device,
        data_dir=data_dir,
        dataset=dataset,
        log=lambda message: console.print(f"[dim]{message}"),
    )
    console.print(quality_table([result]))
    console.print(f"saved to {Path(run_dir) / 'eval.json'}")


@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run dir written by gan train.")],
):
    """Write report.html (self-contained, images embedded) and report.md into the run dir."""
    from gan.report.page import write_report

    html, markdown = write_report(run_dir)
    console.print(f"report: {html.resolve()}\nmarkdown: {markdown.resolve()}")
