"""`gan export` and `gan sample`: artifacts with their parity proof, and images from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gan.cli.common import Device, Strict, Untrusted, console, int_list, user_errors, warn
from gan.cli.verify import print_parity


@user_errors
def export(
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
    precision: Annotated[
        str,
        typer.Option(
            help="Precisions to export, comma-separated: fp32 (always), int8-dynamic, int8-static, "
            "fp16. Each variant is an extra .onnx per model with its own parity budget; one that "
            "cannot be built is skipped with the reason; its quality cost is measured right "
            "after (see --quality-cost)."
        ),
    ] = "fp32",
    quality_cost: Annotated[
        bool,
        typer.Option(
            help="With variants: measure each one's FCD change against fp32 on 1000 images (when the "
            "run has a dataset) and exit 1 above --max-fcd-increase; gan eval --precision measures 10,000."
        ),
    ] = True,
    max_fcd_increase: Annotated[
        float, typer.Option(help="With variants: the FCD rise, in percent, a variant may cost.")
    ] = 1.0,
    formats: Annotated[
        str | None,
        typer.Option(
            help="Formats to write, comma-separated: torchscript, onnx, exported-program (torch.export), "
            "aoti (an AOTInductor package, needs a C++ compiler). [default: $GAN_EXPORT_FORMATS, else "
            "every format this machine can build; one it cannot is skipped with the reason]",
            show_default=False,
        ),
    ] = None,
):
    """Export G and D to TorchScript, ONNX, an ExportedProgram and an AOTInductor package, with
    manifest.json and golden I/O, and prove parity.

    Exits 1 when any backend disagrees with eager PyTorch beyond tolerance, after naming the
    first layer where it diverges (and plotting every layer's error into the export dir).
    """
    from gan.device import resolve_device
    from gan.export.exporter import PARITY_GRID, export_run
    from gan.export.precision import parse_precisions
    from gan.export.precision_cost import check_max_fcd_increase

    precisions = parse_precisions(precision)
    check_max_fcd_increase(max_fcd_increase)
    result = export_run(
        run_dir,
        out,
        device=resolve_device(device),
        opset=opset,
        exporter=exporter,
        force=force,
        precisions=precisions,
        formats=formats,
        console=console,
    )
    for name, reason in result.manifest.get("skipped_formats", {}).items():
        warn(f"{name} not exported: {reason}")
    if result.notices:
        console.print(
            "[dim]note: torch marks TorchScript (torch.jit.trace/save) as deprecated; the .pt "
            "files are still exported because many deployments load them."
        )
    for line in result.variant_notes:
        console.print(f"variant {line}")
    print_parity(result.comparisons, result.image_results, result.localizations)
    console.print(f"fixed-noise grids side by side: {result.export_dir / PARITY_GRID}")
    console.print(
        f"exported to {result.export_dir} in {result.seconds:.1f} s (exporter {exporter}, opset {opset})"
    )
    costs_passed = True
    if quality_cost:
        costs_passed = _print_costs(run_dir, result, max_fcd_increase)
    if not result.passed or not costs_passed:
        raise typer.Exit(1)


def _print_costs(run_dir: Path, result, max_fcd_increase: float) -> bool:
    """Each variant's measured quality cost in one line; False when one fails the gate."""
    from gan.export.precision_cost import costs_at_export

    with console.status("measuring each variant's quality cost"):
        measured, notes = costs_at_export(run_dir, result.export_dir, result.manifest, max_fcd_increase)
    for line in notes:
        console.print(f"[dim]{line}")
    for precision, record in measured.items():
        cost = record["cost"]
        verdict = "[green]pass" if cost["passed"] else "[bold red]FAIL"
        console.print(
            f"quality cost of {precision}: FCD {cost['fcd_increase_pct']:+.2f}% vs fp32 on {record['n']} "
            f"images, mean PSNR {cost['mean_psnr_db_vs_fp32']:.1f} dB: {verdict}[/] "
            f"(gate {max_fcd_increase:g}%; gan eval --precision {precision} measures 10,000)"
        )
    return all(record["cost"]["passed"] for record in measured.values())


@user_errors
def sample(
    source: Annotated[Path, typer.Argument(help="A run dir, an export dir, or a .pt/.onnx file.")],
    backend: Annotated[
        str, typer.Option(help="eager, torchscript, onnxruntime (or, on cuda, onnxruntime-iobinding/-numpy).")
    ] = "onnxruntime",
    n: Annotated[int, typer.Option("-n", help="How many images.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for z; the same seed gives the same images.")] = 0,
    labels: Annotated[
        str | None,
        typer.Option(
            help="A class-conditional G: these classes, one row each, e.g. 0,1,2 [default: every class].",
            show_default=False,
        ),
    ] = None,
    input_images: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="An image-to-image G: the source image, or a dir of them; shown above G's images.",
            show_default=False,
        ),
    ] = None,
    device: Device = "cpu",
    out: Annotated[Path, typer.Option(help="PNG grid to write.")] = Path("samples.png"),
    untrusted: Untrusted = False,
    strict: Strict = False,
    precision: Annotated[
        str,
        typer.Option(help="A precision variant of the export (int8-dynamic, int8-static, fp16) or bf16."),
    ] = "fp32",
):
    """Generate images with the exported (or eager) generator on any backend."""
    from gan.device import resolve_device
    from gan.export.sample import sample_images
    from gan.report.pictures import save_grid

    classes = int_list(labels, "--labels") if labels is not None else None
    images, nrow = sample_images(
        source,
        backend,
        n,
        seed,
        resolve_device(device),
        trust_code=not untrusted,
        labels=classes,
        sources=input_images,
        strict=strict,
        warn=warn,
        precision=precision,
    )
    save_grid(images, out, nrow)
    label = backend if precision == "fp32" else f"{backend} ({precision})"
    console.print(f"wrote {len(images)} images from {label} to {out}")
