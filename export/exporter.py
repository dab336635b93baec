"""`gan export` and `gan verify`: artifacts from a run, and proof that they compute what eager does."""

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

from gan.architecture import Architecture
from gan.architectures import ArchitectureRef
from gan.checkpoint import load_trained_run
from gan.errors import GanError
from gan.export.golden import GOLDEN, load_golden, make_golden, save_golden
from gan.export.image_parity import check_image_parity
from gan.export.inputs import example_inputs
from gan.export.manifest import effective_tolerances, read_manifest, write_manifest
from gan.export.parity import DEFAULT_TOLERANCES, PARITY_BATCHES, Comparison, check_backends
from gan.export.registry import PARITY_BACKENDS, ModelSource, Unavailable, build_backends
from gan.export.to_onnx import DEFAULT_OPSET, check_opset, export_onnx, onnx_io, validate_onnx
from gan.export.torchscript import export_torchscript
from gan.locking import exclusive
from gan.ownership import refuse_unsafe_target, remove_abandoned, require_export_dir

# Traced with a batch that parity never uses, so a batch axis frozen by tracing cannot hide.
TRACE_BATCH = 3
GOLDEN_SEED = 1234
VERIFY_GRID = "verify_grid.png"
FIXED_NOISE_SIZE = 64


def io_names(architecture_output: str) -> dict[str, tuple[str, str]]:
    """ONNX input/output names per model; D's output is named after what it outputs."""
    return {"generator": ("z", "image"), "discriminator": ("image", architecture_output)}


@dataclass
class ExportResult:
    export_dir: Path
    manifest: dict
    comparisons: list[Comparison]
    image_results: list[dict]
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons) and all(r["passed"] for r in self.image_results)


def check_export_target(path: Path, force: bool) -> None:
    """An export dir may be created, or replaced with --force when gan wrote it and nothing else."""
    refuse_unsafe_target(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise GanError(f"{path} exists and is not a directory")
    if not any(path.iterdir()):
        return
    if not force:
        raise GanError(
            f"export dir {path} already exists; pass --force to replace it or --out to pick another"
        )
    require_export_dir(path)


def _swap_in(staging: Path, out: Path) -> None:
    """The old export goes aside, the new one takes its name, then the old one is deleted: a
    kill at any moment leaves a complete export dir under `out` or beside it."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def export_run(
    run_dir: Path,
    out: Path | None = None,
    *,
    device: torch.device = torch.device("cpu"),
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    force: bool = False,
    console: Console | None = None,
) -> ExportResult:
    """Exports the models of a run dir (default: into RUN_DIR/export)."""
    check_opset(exporter, opset)
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "export"
    run = load_trained_run(run_dir)
    check_export_target(out, force)
    return export_models(
        run.architecture,
        run.generator,
        run.discriminator,
        out,
        arch_ref=run.arch_ref,
        fixed_noise=run.checkpoint.fixed_noise,
        source={
            "run_dir": str(run_dir.resolve()),
            "epoch": run.checkpoint.epoch,
            "checkpoint_sha256": run.checkpoint.tensor_sha256,
        },
        dataset=run.checkpoint.config.dataset,
        device=device,
        opset=opset,
        exporter=exporter,
        console=console,
        force=force,
    )


def export_models(
    architecture: Architecture,
    generator: nn.Module,
    discriminator: nn.Module | None,
    out: str | Path,
    *,
    arch_ref: ArchitectureRef | None = None,
    fixed_noise: torch.Tensor | None = None,
    source: dict | None = None,
    dataset: str | None = None,
    device: torch.device = torch.device("cpu"),
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    console: Console | None = None,
    force: bool = False,
) -> ExportResult:
    """The Python API: exports these modules to TorchScript and ONNX with a manifest and golden
    I/O, proves parity, and returns the result (its `.manifest` is what was written).

    `out` must not exist yet (or be empty) unless `force`. `fixed_noise` defaults to 64 seeded
    draws of z.
    """
    console = console or Console(quiet=True)
    out = Path(out)
    check_opset(exporter, opset)
    check_export_target(out, force)
    with exclusive(out, "export dir"):
        remove_abandoned(out)
        return _export_locked(
            architecture, generator, discriminator, out, arch_ref, fixed_noise, source, dataset,
            device, opset, exporter, console,
        )  # fmt: skip


def _export_locked(
    architecture, generator, discriminator, out, arch_ref, fixed_noise, source, dataset,
    device, opset, exporter, console,
) -> ExportResult:  # fmt: skip
    started = time.perf_counter()
    generator = generator.cpu().eval()
    discriminator = discriminator.cpu().eval() if discriminator is not None else None
    if fixed_noise is None:
        fixed_noise = torch.randn(
            FIXED_NOISE_SIZE, *architecture.z_shape, generator=torch.Generator().manual_seed(0)
        )
    models = {"generator": generator, "discriminator": discriminator}
    models = {name: module for name, module in models.items() if module is not None}
    names = io_names(architecture.discriminator_output)
    # Everything is built in a sibling dir and swapped in at the end: a failed export loses nothing.
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        trace_inputs = example_inputs(
            architecture.z_shape, architecture.image_shape, TRACE_BATCH, seed=GOLDEN_SEED + 1
        )
        notices: list[str] = []
        described = {}
        with console.status("exporting") as status:
            for name, module in models.items():
                input_name, output_name = names[name]
                example = trace_inputs[name]
                status.update(f"TorchScript: {name}")
                notices += export_torchscript(module, example, staging / f"{name}.pt")
                status.update(f"ONNX ({exporter}, opset {opset}): {name}")
                export_onnx(
                    module, example, staging / f"{name}.onnx", input_name, output_name, opset, exporter
                )
                onnx_model = validate_onnx(staging / f"{name}.onnx")
                described[name] = _describe(name, names[name], module, example, onnx_io(onnx_model))
                described[name]["opset"] = _onnx_opset(onnx_model)
            status.update("golden I/O and parity")
            golden = make_golden(
                generator,
                discriminator,
                example_inputs(
                    architecture.z_shape, architecture.image_shape, max(PARITY_BATCHES), GOLDEN_SEED
                ),
                fixed_noise,
            )
            save_golden(staging / GOLDEN, golden)
            manifest = {
                "arch": {"name": architecture.name, **(arch_ref.to_dict() if arch_ref else {})},
                "dataset": dataset,
                "z_shape": list(architecture.z_shape),
                "image_shape": list(architecture.image_shape),
                "discriminator_output": architecture.discriminator_output if discriminator else None,
                "source": source or {"run_dir": None, "note": "exported through the Python API"},
                "exporter": exporter,
                # What the files say, which may differ from what was asked for.
                "opset": described["generator"]["opset"],
                "trace_batch": TRACE_BATCH,
                "golden": {"file": GOLDEN, "seed": GOLDEN_SEED, "batches": list(PARITY_BATCHES)},
                "versions": _versions(),
                "models": described,
                "tolerances": {k: vars(v) for k, v in DEFAULT_TOLERANCES.items()},
                "files": [f"{m}.{ext}" for m in models for ext in ("pt", "onnx")] + [GOLDEN],
            }
            write_manifest(staging, manifest)
            comparisons, image_results = run_parity(
                staging, manifest, golden, device, eager=models, grid_dir=staging
            )
            manifest = read_manifest(staging)
            manifest["parity"] = [c.to_dict() for c in comparisons]
            manifest["image_parity"] = image_results
            write_manifest(staging, manifest)
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(
        out,
        read_manifest(out),
        comparisons,
        image_results,
        sorted(set(notices)),
        time.perf_counter() - started,
    )


def run_parity(
    export_dir: Path,
    manifest: dict,
    golden: dict[str, torch.Tensor],
    device: torch.device,
    eager: dict[str, nn.Module] | None = None,
    grid_dir: Path | None = None,
    grid_name: str = "parity_grid.png",
    trust_code: bool = True,
) -> tuple[list[Comparison], list[dict]]:
    """Every parity backend on the CPU, and on `device` too when it is CUDA, against golden.

    A backend that cannot run here (e.g. ORT CUDA without onnxruntime-gpu) raises GanError, since
    the user asked for that device. TorchScript is skipped unless `trust_code`."""
    source = ModelSource(export_dir, manifest, eager, trust_code=trust_code)
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    tolerances = effective_tolerances(manifest, DEFAULT_TOLERANCES)
    models = [*source.models, *(["chain"] if "discriminator" in source.models else [])]
    backends = []
    for dev in devices:
        for name in PARITY_BACKENDS[dev.type]:
            if name == "eager" and eager is None:
                continue
            try:
                built = build_backends(name, source, dev)
            except Unavailable as error:
                if name == "torchscript" and not trust_code:
                    continue
                raise GanError(f"cannot check {name} on {dev}: {error}") from None
            backends += [(model, built[model]) for model in models]
    inputs = {m: golden[f"{m}.input"] for m in models}
    expected = {m: golden[f"{m}.output"] for m in models}
    comparisons = check_backends(backends, inputs, expected, tolerances, manifest["golden"]["batches"])
    generators = [b for model, b in backends if model == "generator"]
    image_results = check_image_parity(
        generators,
        golden["fixed_noise"],
        golden["fixed_images"],
        (grid_dir / grid_name) if grid_dir is not None else None,
    )
    return comparisons, image_results


def verify_export(
    export_dir: Path, device: torch.device, grid_path: Path | None = None, trust_code: bool = True
) -> tuple[list[Comparison], list[dict]]:
    """Parity from the manifest and golden I/O alone: no checkpoint, no Architecture needed."""
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    golden = load_golden(export_dir / manifest["golden"]["file"])
    grid_dir = grid_path.parent if grid_path is not None else None
    grid_name = grid_path.name if grid_path is not None else VERIFY_GRID
    return run_parity(
        export_dir, manifest, golden, device, grid_dir=grid_dir, grid_name=grid_name, trust_code=trust_code
    )


def _describe(name: str, io: tuple[str, str], module, example: torch.Tensor, declared: dict) -> dict:
    with torch.no_grad():
        output = module(example)
    input_name, output_name = io
    return {
        "files": {"torchscript": f"{name}.pt", "onnx": f"{name}.onnx"},
        "inputs": [{"name": input_name, "shape": ["batch", *example.shape[1:]], "dtype": "float32"}],
        "outputs": [{"name": output_name, "shape": ["batch", *output.shape[1:]], "dtype": "float32"}],
        "onnx_declared": declared,
    }


def _onnx_opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _versions() -> dict[str, str]:
    import onnxruntime
    import onnxscript

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxscript": onnxscript.__version__,
    }
