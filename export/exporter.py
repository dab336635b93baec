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

from export.artifacts import artifact_backends, eager_backends
from export.golden import GOLDEN, MODELS, golden_inputs, load_golden, make_golden, save_golden
from export.image_parity import check_image_parity
from export.manifest import MANIFEST, read_manifest, write_manifest
from export.parity import DEFAULT_TOLERANCES, PARITY_BATCHES, Comparison, Tolerance, check_backends
from export.to_onnx import DEFAULT_OPSET, EXPORTERS, export_onnx, onnx_io, validate_onnx
from export.torchscript import export_torchscript
from gan.checkpoint import load_checkpoint, trained_models
from gan.config import TrainConfig
from gan.errors import GanError
from gan.models import IMAGE_SHAPE

# Traced with a batch that parity never uses, so a batch axis frozen by tracing cannot hide.
TRACE_BATCH = 3
GOLDEN_SEED = 1234
VERIFY_GRID = "verify_grid.png"
IO_NAMES = {"generator": ("z", "image"), "discriminator": ("image", "probability")}


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


def _replaceable(path: Path, force: bool) -> None:
    if not path.exists():
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    if not force:
        raise GanError(
            f"export dir {path} already exists; pass --force to replace it or --out to pick another"
        )
    if not (path / MANIFEST).exists():
        raise GanError(f"--force will not delete {path}: it has no {MANIFEST}, so it is not an export dir")


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
    """Exports the models of a trained run (default: into RUN_DIR/export)."""
    if exporter not in EXPORTERS:
        raise GanError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "export"
    checkpoint = load_checkpoint(run_dir)
    _replaceable(out, force)
    config = checkpoint.config
    generator, discriminator = trained_models(checkpoint)
    source = {
        "run_dir": str(run_dir.resolve()),
        "epoch": checkpoint.epoch,
        "checkpoint_sha256": checkpoint.tensor_sha256,
    }
    return export_models(
        generator,
        discriminator,
        config,
        checkpoint.fixed_noise,
        source,
        out,
        device=device,
        opset=opset,
        exporter=exporter,
        console=console,
    )


def export_models(
    generator: nn.Module,
    discriminator: nn.Module,
    config: TrainConfig,
    fixed_noise: torch.Tensor,
    source: dict,
    out: Path,
    *,
    device: torch.device = torch.device("cpu"),
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    console: Console | None = None,
) -> ExportResult:
    """Writes the artifacts, manifest and golden I/O for these modules, then checks parity."""
    console = console or Console()
    started = time.perf_counter()
    generator, discriminator = generator.cpu().eval(), discriminator.cpu().eval()
    # Everything is built in a sibling dir and swapped in at the end: a failed export loses nothing.
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        trace_inputs = golden_inputs(config.z_dim, TRACE_BATCH, seed=GOLDEN_SEED + 1)
        models = {"generator": generator, "discriminator": discriminator}
        notices: list[str] = []
        described = {}
        with console.status("exporting") as status:
            for name, module in models.items():
                input_name, output_name = IO_NAMES[name]
                example = trace_inputs[name]
                status.update(f"TorchScript: {name}")
                notices += export_torchscript(module, example, staging / f"{name}.pt")
                status.update(f"ONNX ({exporter}, opset {opset}): {name}")
                export_onnx(
                    module, example, staging / f"{name}.onnx", input_name, output_name, opset, exporter
                )
                declared = onnx_io(validate_onnx(staging / f"{name}.onnx"))
                described[name] = _describe(name, module, example, declared)
            status.update("golden I/O and parity")
            golden = make_golden(
                generator,
                discriminator,
                golden_inputs(config.z_dim, max(PARITY_BATCHES), GOLDEN_SEED),
                fixed_noise,
            )
            save_golden(staging / GOLDEN, golden)
            manifest = {
                "arch": config.arch,
                "dataset": config.dataset,
                "z_dim": config.z_dim,
                "image_shape": list(IMAGE_SHAPE),
                "source": source,
                "exporter": exporter,
                "opset": opset,
                "trace_batch": TRACE_BATCH,
                "golden": {"file": GOLDEN, "seed": GOLDEN_SEED, "batches": list(PARITY_BATCHES)},
                "versions": _versions(),
                "models": described,
                "tolerances": {k: vars(v) for k, v in DEFAULT_TOLERANCES.items()},
                "files": [f"{m}.{ext}" for m in models for ext in ("pt", "onnx")] + [GOLDEN],
            }
            write_manifest(staging, manifest)
            comparisons, image_results = run_parity(
                staging, manifest, golden, device, eager=(generator, discriminator)
            )
            manifest = read_manifest(staging)
            manifest["parity"] = [c.to_dict() for c in comparisons]
            manifest["image_parity"] = image_results
            write_manifest(staging, manifest)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
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
    eager=None,
    grid_name: str = "parity_grid.png",
) -> tuple[list[Comparison], list[dict]]:
    """Every available backend on the CPU, and on `device` too when it is CUDA, against golden."""
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    tolerances = {k: Tolerance(**v) for k, v in manifest["tolerances"].items()}
    backends = []
    for dev in devices:
        if eager is not None:
            backends += eager_backends(*eager, dev)
        backends += artifact_backends(export_dir, manifest, dev)
    inputs = {m: golden[f"{m}.input"] for m in MODELS}
    expected = {m: golden[f"{m}.output"] for m in MODELS}
    comparisons = check_backends(backends, inputs, expected, tolerances, manifest["golden"]["batches"])
    generators = [b for model, b in backends if model == "generator"]
    image_results = check_image_parity(
        generators, golden["fixed_noise"], golden["fixed_images"], export_dir / grid_name
    )
    return comparisons, image_results


def verify_export(export_dir: Path, device: torch.device) -> tuple[list[Comparison], list[dict]]:
    """Parity from the manifest and golden I/O alone: no checkpoint needed."""
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    golden = load_golden(export_dir / manifest["golden"]["file"])
    return run_parity(export_dir, manifest, golden, device, grid_name=VERIFY_GRID)


def _describe(name: str, module, example: torch.Tensor, declared: dict) -> dict:
    with torch.no_grad():
        output = module(example)
    input_name, output_name = IO_NAMES[name]
    return {
        "files": {"torchscript": f"{name}.pt", "onnx": f"{name}.onnx"},
        "inputs": [{"name": input_name, "shape": ["batch", *example.shape[1:]], "dtype": "float32"}],
        "outputs": [{"name": output_name, "shape": ["batch", *output.shape[1:]], "dtype": "float32"}],
        "onnx_declared": declared,
    }


def _versions() -> dict[str, str]:
    import onnxruntime
    import onnxscript

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxscript": onnxscript.__version__,
    }
