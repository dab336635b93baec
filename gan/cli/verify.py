"""`gan verify`: parity of an export dir from its manifest and golden I/O, where it fails the first
diverging layer, and reports for CI (JUnit XML, JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gan.cli.common import MISMATCH, Device, Untrusted, console, err_console, user_errors
from gan.errors import GanError


@user_errors
def verify(
    export_dir: Annotated[Path, typer.Argument(help="An export dir written by gan export.")],
    device: Device = "cpu",
    atol: Annotated[
        list[str] | None,
        typer.Option(
            metavar="[OUTPUT:]ATOL",
            help="Absolute tolerance for every output (1e-4) or for one (image:1e-4); repeatable. "
            "Replaces the manifest's, looser or tighter, and is recorded in the reports.",
            show_default=False,
        ),
    ] = None,
    rtol: Annotated[
        list[str] | None,
        typer.Option(
            metavar="[OUTPUT:]RTOL", help="Relative tolerance, given like --atol.", show_default=False
        ),
    ] = None,
    check_error_stat: Annotated[
        str,
        typer.Option(
            help="elemwise: every element within atol or rtol; max, mean, median or quantile: that "
            "statistic of the absolute or of the relative error within its tolerance."
        ),
    ] = "elemwise",
    error_quantile: Annotated[
        float, typer.Option(help="The quantile for --check-error-stat quantile.")
    ] = 0.99,
    min_psnr: Annotated[
        float | None,
        typer.Option(help="Also fail G's images below this PSNR (dB) against eager.", show_default=False),
    ] = None,
    min_ssim: Annotated[
        float | None,
        typer.Option(help="Also fail G's images below this SSIM against eager.", show_default=False),
    ] = None,
    localize: Annotated[
        bool, typer.Option(help="Compare every layer even when everything matches (a mismatch always does).")
    ] = False,
    run: Annotated[
        Path | None,
        typer.Option(
            help="The run dir the export was made from, for the eager model that layers are compared "
            "with [default: the one the manifest names, if its checkpoint still matches].",
            show_default=False,
        ),
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option(help="Save each per-layer error plot into this dir.", show_default=False),
    ] = None,
    save_heatmaps: Annotated[
        Path | None,
        typer.Option(
            help="Save a heatmap of the worst sample's error, per backend, into this dir.", show_default=False
        ),
    ] = None,
    grid: Annotated[
        Path | None,
        typer.Option(help="Save the fixed-noise grids side by side here (PNG).", show_default=False),
    ] = None,
    junit_xml: Annotated[
        Path | None,
        typer.Option(
            help="Write a JUnit XML report: a testcase per comparison and image check.", show_default=False
        ),
    ] = None,
    json_report: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Write the whole report, with the environment, as JSON.", show_default=False
        ),
    ] = None,
    untrusted: Untrusted = False,
    cpp: Annotated[
        bool,
        typer.Option(
            "--cpp",
            help="Also run the AOTInductor package and the TorchScript file from a C++ program built "
            "against this torch (once; needs a C++20 compiler): rows aoti-cpp and torchscript-cpp.",
        ),
    ] = False,
):
    """Re-run parity from manifest.json and golden I/O alone (no checkpoint); exit 1 on mismatch.

    Where a comparison fails, the first layer whose output diverges from eager is named (this
    needs the eager model: the run dir the export came from). Nothing is written into
    EXPORT_DIR, so it can be read-only.

    Exit codes: 0 everything matched; 1 a mismatch; 2 a usage error (a bad option or export
    dir); 3 the machine lacks what was asked for (a CUDA device, onnxruntime-gpu).
    """
    from gan.device import resolve_device
    from gan.export.verify import VerifyOptions, call_notes, untrusted_note, verify_export
    from gan.files.atomic import check_writable

    for path in (junit_xml, json_report):
        if path is not None:
            check_writable(path, parent_must_exist=True)  # before the work, not after
    options = VerifyOptions(
        device=resolve_device(device),
        trust_code=not untrusted,
        atol=parse_tolerances(atol or [], "--atol"),
        rtol=parse_tolerances(rtol or [], "--rtol"),
        error_stat=check_error_stat,
        error_quantile=error_quantile,
        min_psnr=min_psnr,
        min_ssim=min_ssim,
        localize=localize,
        run_dir=run,
        grid_path=grid,
        heatmap_dir=save_heatmaps,
        plot_dir=plots,
        cpp=cpp,
    )
    report = verify_export(export_dir, options)
    if untrusted and (note := untrusted_note(report.manifest)):
        console.print(f"[yellow]{note}", highlight=False)
    print_parity(report.comparisons, report.image_checks, report.localizations, report.localization_note)
    for note in call_notes(report.manifest):
        console.print(f"[dim]{note}", highlight=False)
    if grid is not None:
        console.print(f"fixed-noise grids side by side: {grid}")
    if junit_xml is not None:
        report.save_junit(junit_xml)
        console.print(f"JUnit report: {junit_xml}")
    if json_report is not None:
        report.save_json(json_report)
        console.print(f"JSON report: {json_report}")
    if not report.passed:
        raise typer.Exit(MISMATCH)


def parse_tolerances(values: list[str], option: str) -> dict[str, float]:
    """["1e-4", "image:1e-3"] -> {"": 1e-4, "image": 1e-3}: for every output, or for one by name."""
    parsed = {}
    for value in values:
        name, _, number = value.rpartition(":")
        try:
            parsed[name] = float(number)
        except ValueError:
            raise GanError(
                f"{option} takes VALUE or OUTPUT:VALUE (e.g. 1e-4 or image:1e-4), got {value!r}"
            ) from None
    return parsed


def print_parity(comparisons, image_results, localizations=(), note: str = "") -> None:
    """The parity table, a line per mismatch, where each first diverges, the image checks and a
    verdict."""
    from gan.export.parity import parity_table

    failed = [c for c in comparisons if not c.passed]
    unsupported = [c for c in comparisons if c.unsupported]
    console.print(parity_table(comparisons))
    for c in failed:
        if c.error:
            continue
        detail = f"max abs {c.max_abs:.2e}, needs atol >= {c.min_passing_atol:.2e}"
        err_console.print(
            f"[red]mismatch:[/] {c.model} on {c.backend} ({c.device}), batch {c.batch}: {detail}"
        )
    # A backend that did not run says so once per model, not once per batch.
    for (model, backend, device, error, is_unsupported), batches in _grouped(failed + unsupported).items():
        label = "[yellow]unsupported here:[/]" if is_unsupported else "[red]error:[/]"
        err_console.print(
            f"{label} {model} on {backend} ({device}), batch {batches}: {escape(error)}", highlight=False
        )
    for found in localizations:
        style = "bold red" if found.first is not None else None
        console.print(f"layers: {found.summary()}", style=style, highlight=False)
        if found.plot:
            console.print(f"  per-layer error plot: {found.plot}", highlight=False)
    if failed and note:
        console.print(f"[yellow]layers not compared:[/] {note}", highlight=False)
    for r in image_results:
        if r.get("error"):
            err_console.print(
                f"[red]error:[/] fixed-noise grid, {r['backend']} ({r['device']}): {escape(r['error'])}",
                highlight=False,
            )
            continue
        mark = "[green]pass" if r["passed"] else "[bold red]FAIL"
        psnr = "identical" if r.get("psnr_db") is None else f"{r['psnr_db']:.1f} dB"
        ssim = "n/a" if r.get("ssim") is None else f"{r['ssim']:.5f}"
        console.print(
            f"fixed-noise grid, {r['backend']} ({r['device']}): max pixel diff {r['max_pixel_diff']}, "
            f"PSNR {psnr}, SSIM {ssim} {mark}",
            highlight=False,
        )
        if r.get("heatmap"):
            console.print(f"  worst-sample heatmap: {r['heatmap']}", highlight=False)
    total, within = len(comparisons), len(comparisons) - len(failed) - len(unsupported)
    skipped = f", {len(unsupported)} unsupported here" if unsupported else ""
    verdict = "[green]all match" if not failed else f"[bold red]{len(failed)} of {total} comparisons FAILED"
    console.print(f"parity: {within}/{total} comparisons within tolerance{skipped}; {verdict}")


def _grouped(comparisons) -> dict[tuple, str]:
    """(model, backend, device, error, unsupported) -> "1, 64, 257" for the rows that did not run."""
    groups: dict[tuple, list[str]] = {}
    for c in comparisons:
        if c.error:
            groups.setdefault((c.model, c.backend, c.device, c.error, c.unsupported), []).append(str(c.batch))
    return {key: ", ".join(dict.fromkeys(batches)) for key, batches in groups.items()}
