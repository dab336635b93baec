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
    precision: Annotated[
        str,
        typer.Option(
            help="Measure what a reduced precision costs (int8-dynamic, int8-static, fp16 from gan "
            "export --precision): FCD next to fp32's on the same z, PSNR against fp32's images, D's "
            "flipped decisions. Runs on --backend (onnxruntime by default here)."
        ),
    ] = "fp32",
    max_fcd_increase: Annotated[
        float,
        typer.Option(help="With --precision: exit 1 when FCD rises by more than this many percent."),
    ] = 1.0,
    classifier: Annotated[
        Path | None,
        typer.Option(
            help="Your own classifier (TorchScript: images in [-1, 1] to class logits) to measure "
            "with, instead of the bundled dataset's; for a run on your own images, this or "
            "--train-classifier is needed.",
            show_default=False,
        ),
    ] = None,
    feature_layer: Annotated[
        str | None,
        typer.Option(
            help="With --classifier: the submodule (dotted name) that maps images to its features, "
            "e.g. 'features'. Default: its logits are the features.",
            show_default=False,
        ),
    ] = None,
    train_classifier: Annotated[
        bool,
        typer.Option(
            help="For a run on your own images with class subfolders: train the toolkit's small "
            "classifier on half of them (once; cached) and measure with it."
        ),
    ] = False,
):
    """Measure quality: FCD, classifier score and class coverage, next to the real-vs-real floor;
    for a conditional G, also the share of its images classified as the class asked for.

    FCD is the Fréchet distance in the features of the dataset's pinned classifier (shipped with
    the toolkit, so figures compare across machines); it is not comparable to published
    Inception-FID. Your own images have no pinned classifier: give --classifier or
    --train-classifier.
    """
    from gan.device import resolve_device
    from gan.export.sample import generator_backend
    from gan.quality.evaluation import Judge, evaluate_run
    from gan.quality.table import label_accuracy_line, quality_table

    if precision != "fp32":
        _precision_cost(run_dir, precision, backend, n, seed, device, data_dir, max_fcd_increase)
        return
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
        judge=Judge(classifier, feature_layer, train_classifier),
    )
    console.print(quality_table([result]))
    if (line := label_accuracy_line(result)) is not None:
        console.print(line)
    console.print(f"saved to {Path(run_dir) / 'eval.json'}")


def _precision_cost(run_dir, precision, backend, n, seed, device, data_dir, max_fcd_increase) -> None:
    from gan.device import resolve_device
    from gan.export.precision_cost import check_max_fcd_increase, precision_cost
    from gan.quality.evaluation import eval_json
    from gan.quality.table import quality_table

    check_max_fcd_increase(max_fcd_increase)
    result = precision_cost(
        run_dir,
        precision,
        backend="onnxruntime" if backend == "eager" else backend,
        n=n,
        seed=seed,
        device=resolve_device(device),
        data_dir=data_dir,
        max_fcd_increase_pct=max_fcd_increase,
        log=lambda message: console.print(f"[dim]{message}"),
    )
    console.print(quality_table([result]))
    cost = result["cost"]
    flips = cost["discriminator_flips"]
    console.print(
        f"{precision} vs fp32 on {result['backend']}: FCD {cost['fcd']:.2f} vs {cost['fcd_fp32']:.2f} "
        f"({cost['fcd_increase_pct']:+.2f}%), mean PSNR {cost['mean_psnr_db_vs_fp32']:.1f} dB"
        + (
            f"; D flips {flips['real']:.2%} of real and {flips['generated']:.2%} of generated decisions"
            if flips
            else ""
        )
    )
    console.print(f"saved to {Path(run_dir) / eval_json(precision)}")
    if not cost["passed"]:
        console.print(
            f"[bold red]FAIL:[/] {precision} raises FCD by {cost['fcd_increase_pct']:.2f}%, more than "
            f"--max-fcd-increase {max_fcd_increase:g}%"
        )
        raise typer.Exit(1)


@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run dir written by gan train.")],
):
    """Write report.html (self-contained, images embedded) and report.md into the run dir."""
    from gan.report.page import write_report

    html, markdown = write_report(run_dir)
    console.print(f"report: {html.resolve()}\nmarkdown: {markdown.resolve()}")
