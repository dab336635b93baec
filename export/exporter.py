"""`gan export`: TorchScript and ONNX artifacts of a run's models, a manifest that describes them,
golden I/O, and the parity proof (gan.export.verify), built aside and swapped in whole."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from rich.console import Console
from torch import nn

from gan.data.datasets import load_dataset
from gan.data.images import normalize
from gan.errors import EnvironmentMissing, GanError
from gan.export.backends import ModelSource
from gan.export.calibration import CALIBRATION_SEED, calibrations
from gan.export.formats import ExportFormat, Target, choose_formats
from gan.export.golden import GOLDEN, PARITY_BATCHES, SIZED_BATCHES, make_golden, parity_cases, save_golden
from gan.export.localize import Localization
from gan.export.manifest import read_manifest, write_manifest
from gan.export.model_io import baked_arguments, describe, free_axes, input_names, output_name
from gan.export.parity import DEFAULT_TOLERANCES, Comparison
from gan.export.precision import BUDGETS, FP32, VariantSkipped, build_variant, parse_precisions, variant_file
from gan.export.to_onnx import DEFAULT_OPSET, check_opset
from gan.export.verify import VerifyOptions, localize_comparisons, prove_parity
from gan.files.locking import exclusive
from gan.files.ownership import check_target, remove_abandoned
from gan.models.architecture import Architecture
from gan.models.calls import check_calls, user_code
from gan.models.inputs import as_exported
from gan.models.outputs import named_outputs
from gan.models.randomness import draws_random_numbers, random_modules
from gan.models.spec import ArchitectureRef
from gan.runs.checkpoint import FIXED_NOISE_SIZE
from gan.runs.trained import load_trained_run

# Traced with a batch that parity never uses, so a batch axis frozen by tracing cannot hide.
TRACE_BATCH = 3
GOLDEN_SEED = 1234
PARITY_GRID = "parity_grid.png"


@dataclass
class ExportRequest:
    """What to export and how: the Python API's one argument to `export_models`.

    `out` must not exist yet (or be empty) unless `force`. `fixed_noise` defaults to 64 seeded
    draws of z; `source` and `dataset` are recorded in the manifest (where the weights came from).
    """

    architecture: Architecture
    generator: nn.Module
    discriminator: nn.Module | None
    out: Path
    arch_ref: ArchitectureRef | None = None
    fixed_noise: torch.Tensor | None = None
    source: dict | None = None
    dataset: str | None = None
    loss: str | None = None  # what trained the models (a run's, which may override the architecture's)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    opset: int = DEFAULT_OPSET
    exporter: str = "dynamo"
    force: bool = False
    # fp32 always, plus the variants to build (gan.export.precision); int8-static calibrates D on
    # `real_images` (float in [-1, 1], G's image shape) and G's outputs, or on G's alone.
    precisions: tuple[str, ...] = (FP32,)
    real_images: torch.Tensor | None = None
    # A comma list of gan.export.formats names; None: $GAN_EXPORT_FORMATS, else every format
    # this machine can build.
    formats: str | None = None

    def __post_init__(self):
        self.out = Path(self.out)
        check_opset(self.exporter, self.opset)
        self.precisions = parse_precisions(",".join(self.precisions))

    @property
    def models(self) -> dict[str, nn.Module]:
        """The eval-mode modules on the CPU, by role, as they are exported (G with its fixed
        keyword arguments, every output of a model that returns several); D only when there is one."""
        models = {"generator": self.generator, "discriminator": self.discriminator}
        signature = self.architecture.signature
        return {
            name: as_exported(signature, name, module.cpu().eval())
            for name, module in models.items()
            if module is not None
        }


@dataclass
class ExportResult:
    export_dir: Path
    manifest: dict
    comparisons: list[Comparison]
    image_results: list[dict]
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0
    localizations: list[Localization] = field(default_factory=list)  # of the failed comparisons
    variant_notes: list[str] = field(default_factory=list)  # what each precision variant is, or why not

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons) and all(r["passed"] for r in self.image_results)


def export_run(
    run_dir: Path,
    out: Path | None = None,
    *,
    device: torch.device = torch.device("cpu"),
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    force: bool = False,
    precisions: tuple[str, ...] = (FP32,),
    formats: str | None = None,
    console: Console | None = None,
) -> ExportResult:
    """Exports the models of a run dir (default: into RUN_DIR/export), with the precision
    variants asked for; int8-static calibrates D on the run's dataset when it is cached here."""
    check_opset(exporter, opset)
    precisions = parse_precisions(",".join(precisions))
    run_dir = Path(run_dir)
    run = load_trained_run(run_dir)
    dataset = run.checkpoint.config.dataset
    real = None
    if "int8-static" in precisions and run.discriminator is not None:
        real = calibration_images(dataset, run.architecture.image_shape)
    request = ExportRequest(
        architecture=run.architecture,
        generator=run.generator,
        discriminator=run.discriminator,
        out=Path(out) if out is not None else run_dir / "export",
        arch_ref=run.arch_ref,
        fixed_noise=run.checkpoint.fixed_noise,
        source={
            "run_dir": str(run_dir.resolve()),
            "epoch": run.checkpoint.epoch,
            "checkpoint_sha256": run.checkpoint.tensor_sha256,
        },
        dataset=run.checkpoint.config.dataset,
        loss=run.checkpoint.config.loss,
        device=device,
        opset=opset,
        exporter=exporter,
        force=force,
        precisions=precisions,
        real_images=real,
        formats=formats,
    )
    return export_models(request, console)


def calibration_images(dataset: str | None, image_shape, n: int = 2048) -> torch.Tensor | None:
    """`n` seeded training images of the run's dataset, as D sees them, or None when the dataset is
    not cached here or its images are not the model's shape (D then calibrates on G's alone)."""
    if dataset is None:
        return None
    try:
        data = load_dataset(dataset, sources=("cache",))
    except GanError:
        return None
    images = normalize(data.train_images)
    if tuple(images.shape[1:]) != tuple(image_shape):
        return None
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(CALIBRATION_SEED))[:n]
    return images[rows]


def export_models(request: ExportRequest, console: Console | None = None) -> ExportResult:
    """The Python API: exports the request's modules to TorchScript and ONNX with a manifest and
    golden I/O, proves parity, and returns the result (its `.manifest` is what was written)."""
    console = console or Console(quiet=True)
    formats, skipped_formats = choose_formats(request.formats)  # an impossible one: before any work
    check_target(request.out, request.force, "export dir")
    with exclusive(request.out, "export dir"):
        remove_abandoned(request.out)
        started = time.perf_counter()
        # Everything is built in a sibling dir and swapped in at the end: a failed export loses nothing.
        staging = request.out.with_name(f".{request.out.name}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            with console.status("exporting") as status:
                check_calls(request.architecture, request.generator, request.discriminator)
                _check_randomness(request)
                described, notices = _write_artifacts(request, staging, formats, status)
                variant_notes = _write_variants(request, staging, described, status)
                status.update("golden I/O and parity")
                golden = _write_golden(request, staging, described)
                write_manifest(staging, _manifest(request, described, formats, skipped_formats))
                manifest = read_manifest(staging)
                options = VerifyOptions(
                    device=request.device, grid_path=staging / PARITY_GRID, plot_dir=staging
                )
                comparisons, image_results = prove_parity(staging, manifest, golden, options, request.models)
                found = []
                if not all(c.passed for c in comparisons):
                    status.update("comparing layers")
                    source = ModelSource(staging, manifest, request.models)
                    found = localize_comparisons(source, golden, comparisons, options)
                _record_parity(staging, comparisons, image_results, found)
            _swap_in(staging, request.out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    for localization in found:  # the plots were drawn in the staging dir, now swapped in
        localization.plot = localization.plot and str(request.out / Path(localization.plot).name)
    manifest = read_manifest(request.out)
    seconds = time.perf_counter() - started
    notices = sorted(set(notices))
    return ExportResult(
        request.out, manifest, comparisons, image_results, notices, seconds, found, variant_notes
    )


def _check_randomness(request: ExportRequest) -> None:
    """A model that draws random numbers inside forward would export as a random graph that no
    parity could hold: refused, naming the modules that draw, unless G is declared stochastic."""
    signature, arch = request.architecture.signature, request.architecture.name
    for role, module in request.models.items():
        args = signature.draw(role, 2, GOLDEN_SEED, size=_first(signature.sizes))
        with user_code(arch, role, input_names(signature, role), args):
            if not draws_random_numbers(module, args) or (role == "generator" and signature.stochastic):
                continue
            where = ", ".join(
                path.removeprefix("module.") or "its own forward" for path in random_modules(module, args)
            )
        raise GanError(
            f"architecture {arch!r}: its {role} draws random numbers inside forward ({where}), so its "
            "export would be random too and no parity could hold; pass that noise in as a declared input "
            "(a Noise in generator_inputs), or declare the architecture stochastic=True to export it and "
            "compare it by distribution"
        )


def _write_artifacts(
    request: ExportRequest, staging: Path, formats: list[ExportFormat], status
) -> tuple[dict, list[str]]:
    """Each model in each format (gan.export.formats); returns their manifest entries and torch's
    notices. A format that fails for a model (an operator the ONNX exporter lacks, a trace that
    cannot be taken) is recorded with its reason under "failed", and the other formats go on; a
    model that cannot even be called stops the export."""
    signature, arch = request.architecture.signature, request.architecture.name
    settings = {
        "architecture": arch,
        "opset": request.opset,
        "exporter": request.exporter,
        "device": str(request.device),
    }
    described = {}
    for name, module in request.models.items():
        names = input_names(signature, name)
        examples = signature.draw(name, TRACE_BATCH, GOLDEN_SEED + 1, size=_first(signature.sizes))
        with torch.no_grad(), user_code(arch, name, names, examples):
            outputs = named_outputs(module, examples, module(*examples), name, _primary(request, name))
        axes = free_axes(signature, name, outputs, TRACE_BATCH)
        target = Target(name, module, examples, names, [n for n, _ in outputs], axes, signature, settings)
        files, failed, made_by, entry = {}, {}, {}, {}
        for fmt in formats:
            status.update(f"{fmt.name}: {name}")
            try:
                made_by[fmt.name], fields = fmt.write(target, staging / fmt.file_name(name))
                files[fmt.name] = fmt.file_name(name)
                entry |= fields
            except EnvironmentMissing:  # a full disk is the machine's, not this format's: stop
                raise
            except GanError as error:  # this format's rows say why; the other formats go on
                failed[fmt.name] = str(error)
        described[name] = {
            "files": files,
            **({"failed": failed} if failed else {}),
            "made_by": made_by,
            **describe(names, examples, outputs, axes),
            "onnx_declared": None,
            **entry,
            "baked_arguments": baked_arguments(
                module, len(names), dict(signature.generator_kwargs) if name == "generator" else {}
            ),
        }
    if not any(d["files"] for d in described.values()):
        reasons = "; ".join(r for d in described.values() for r in d["failed"].values())
        raise GanError(f"no format could be exported: {reasons}")
    notices = [n for fmt in formats for n in fmt.notices]
    return described, notices


def _primary(request: ExportRequest, model: str) -> str:
    return output_name(model, request.architecture.discriminator_output)


def _write_variants(request: ExportRequest, staging: Path, described: dict, status) -> list[str]:
    """Each requested precision variant of each model, beside its fp32 .onnx, recorded under the
    model's "variants" (its file and how it was made, or why it was skipped); returns a line per
    variant for the user. A variant that fails is skipped and never touches the fp32 export."""
    variants = [p for p in request.precisions if p != FP32]
    if not variants:
        return []
    signature = request.architecture.signature
    calibration = None
    if "int8-static" in variants:
        status.update("int8-static: calibration inputs")
        calibration = calibrations(signature, request.models, request.real_images, request.dataset)
    notes = []
    for precision in variants:
        for model in described:
            if "onnx" not in described[model]["files"]:
                reason = "its fp32 ONNX file could not be exported"
                described[model].setdefault("variants", {})[precision] = {"skipped": reason}
                notes.append(f"{precision} {model}: skipped, {reason}")
                continue
            status.update(f"{precision}: {model}")
            name = variant_file(model, precision)
            source, target = staging / described[model]["files"]["onnx"], staging / name
            try:
                made_by = build_variant(precision, source, target, calibration and calibration[model])
            except VariantSkipped as reason:
                described[model].setdefault("variants", {})[precision] = {"skipped": str(reason)}
                notes.append(f"{precision} {model}: skipped, {reason}")
                continue
            described[model].setdefault("variants", {})[precision] = {"file": name, "made_by": made_by}
            how = made_by["tool"].split("(")[0]
            if "calibration" in made_by:
                how += f", calibrated on {made_by['calibration']['inputs']}"
            notes.append(f"{precision} {model}: {name} ({how})")
    return notes


def _first(sizes):
    return sizes[0] if sizes else None


def _write_golden(request: ExportRequest, staging: Path, described: dict) -> dict[str, torch.Tensor]:
    signature = request.architecture.signature
    fixed = signature.draw("generator", FIXED_NOISE_SIZE, 0, size=_first(signature.sizes))
    if request.fixed_noise is not None and signature.plain:
        fixed = (request.fixed_noise,)  # the run's own grid
    cases = parity_cases(signature, request.discriminator is not None)
    batch = max(_batches(signature))
    inputs = {key: signature.draw(model, batch, GOLDEN_SEED, size=size) for key, model, size in cases}
    names = {model: [o["name"] for o in d["outputs"]] for model, d in described.items()}
    golden = make_golden(signature, request.models, inputs, fixed, request.architecture.name, names)
    save_golden(staging / GOLDEN, golden)
    return golden


def _batches(signature) -> tuple[int, ...]:
    return SIZED_BATCHES if signature.sizes else PARITY_BATCHES


def _manifest(
    request: ExportRequest, described: dict, formats: list[ExportFormat], skipped_formats: dict[str, str]
) -> dict:
    """manifest.json before parity: what was written, from what, by which versions."""
    architecture = request.architecture
    return {
        "arch": {"name": architecture.name, **(request.arch_ref.to_dict() if request.arch_ref else {})},
        "dataset": request.dataset,
        "signature": architecture.signature.to_dict(),
        "z_shape": list(architecture.z_shape) if architecture.z_shape else None,
        "image_shape": list(architecture.image_shape),
        "discriminator_output": architecture.discriminator_output if request.discriminator else None,
        # How `gan bench` trains these models (its train workloads follow the run).
        "loss": (request.loss or architecture.loss) if request.discriminator else None,
        "source": request.source or {"run_dir": None, "note": "exported through the Python API"},
        "exporter": request.exporter,
        # The formats asked for (each model's files, or its reason under "failed"), and those this
        # machine could not build by default, with why (gan.export.formats).
        "formats": [fmt.name for fmt in formats],
        "skipped_formats": skipped_formats,
        # What the files say, which may differ from what was asked for.
        "opset": next((d["opset"] for d in described.values() if "opset" in d), request.opset),
        "trace_batch": TRACE_BATCH,
        "golden": {
            "file": GOLDEN,
            "seed": GOLDEN_SEED,
            "batches": list(_batches(architecture.signature)),
            "sizes": [list(size) for size in architecture.signature.sizes],
        },
        "versions": _versions(),
        "models": described,
        "tolerances": {k: vars(v) for k, v in DEFAULT_TOLERANCES.items()},
        # Each variant's own parity budget; the fp32 tolerances above are not changed by them.
        "precisions": {p: BUDGETS[p].to_dict() for p in request.precisions if p != FP32},
        "files": [f for d in described.values() for f in d["files"].values()]
        + [v["file"] for d in described.values() for v in d.get("variants", {}).values() if "file" in v]
        + [GOLDEN],
    }


def _record_parity(
    staging: Path, comparisons: list[Comparison], image_results: list[dict], found: list[Localization]
) -> None:
    manifest = read_manifest(staging)
    manifest["parity"] = [c.to_dict() for c in comparisons]
    manifest["image_parity"] = image_results
    # Where a failed comparison first diverges; its plot is a file beside the manifest.
    manifest["localization"] = [{**f.to_dict(), "plot": f.plot and Path(f.plot).name} for f in found]
    write_manifest(staging, manifest)


def _versions() -> dict[str, str]:
    import onnxruntime
    import onnxscript

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxscript": onnxscript.__version__,
    }


def _swap_in(staging: Path, out: Path) -> None:
    """The old export goes aside, the new one takes its name, then the old one is deleted: a
    kill at any moment leaves a complete export dir under `out` or beside it."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)
