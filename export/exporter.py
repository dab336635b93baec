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

from gan.export.golden import GOLDEN, make_golden, save_golden
from gan.export.inputs import example_inputs
from gan.export.manifest import read_manifest, write_manifest
from gan.export.parity import DEFAULT_TOLERANCES, PARITY_BATCHES, Comparison
from gan.export.to_onnx import DEFAULT_OPSET, check_opset, export_onnx, onnx_io, validate_onnx
from gan.export.torchscript import export_torchscript
from gan.export.verify import prove_parity
from gan.files.locking import exclusive
from gan.files.ownership import check_target, remove_abandoned
from gan.models.architecture import Architecture
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
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    opset: int = DEFAULT_OPSET
    exporter: str = "dynamo"
    force: bool = False

    def __post_init__(self):
        self.out = Path(self.out)
        check_opset(self.exporter, self.opset)

    @property
    def models(self) -> dict[str, nn.Module]:
        """The eval-mode modules on the CPU, by role; D only when there is one."""
        models = {"generator": self.generator, "discriminator": self.discriminator}
        return {name: module.cpu().eval() for name, module in models.items() if module is not None}


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
    run = load_trained_run(run_dir)
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
        device=device,
        opset=opset,
        exporter=exporter,
        force=force,
    )
    return export_models(request, console)


def export_models(request: ExportRequest, console: Console | None = None) -> ExportResult:
    """The Python API: exports the request's modules to TorchScript and ONNX with a manifest and
    golden I/O, proves parity, and returns the result (its `.manifest` is what was written)."""
    console = console or Console(quiet=True)
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
                described, notices = _write_artifacts(request, staging, status)
                status.update("golden I/O and parity")
                golden = _write_golden(request, staging)
                write_manifest(staging, _manifest(request, described))
                comparisons, image_results = prove_parity(
                    staging,
                    read_manifest(staging),
                    golden,
                    request.device,
                    eager=request.models,
                    grid_path=staging / PARITY_GRID,
                )
                _record_parity(staging, comparisons, image_results)
            _swap_in(staging, request.out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    manifest = read_manifest(request.out)
    seconds = time.perf_counter() - started
    return ExportResult(request.out, manifest, comparisons, image_results, sorted(set(notices)), seconds)


def _write_artifacts(request: ExportRequest, staging: Path, status) -> tuple[dict, list[str]]:
    """The .pt and .onnx of each model, validated; returns their manifest entries and torch's notices."""
    architecture = request.architecture
    trace_inputs = example_inputs(
        architecture.z_shape, architecture.image_shape, TRACE_BATCH, seed=GOLDEN_SEED + 1
    )
    names = io_names(architecture.discriminator_output)
    described, notices = {}, []
    for name, module in request.models.items():
        input_name, output_name = names[name]
        example = trace_inputs[name]
        status.update(f"TorchScript: {name}")
        notices += export_torchscript(module, example, staging / f"{name}.pt")
        status.update(f"ONNX ({request.exporter}, opset {request.opset}): {name}")
        path = staging / f"{name}.onnx"
        export_onnx(module, example, path, input_name, output_name, request.opset, request.exporter)
        onnx_model = validate_onnx(path)
        described[name] = _describe(name, names[name], module, example, onnx_io(onnx_model))
        described[name]["opset"] = next(
            o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")
        )
    return described, notices


def _write_golden(request: ExportRequest, staging: Path) -> dict[str, torch.Tensor]:
    architecture = request.architecture
    fixed_noise = request.fixed_noise
    if fixed_noise is None:
        fixed_noise = architecture.noise(FIXED_NOISE_SIZE, seed=0)
    models = request.models
    inputs = example_inputs(architecture.z_shape, architecture.image_shape, max(PARITY_BATCHES), GOLDEN_SEED)
    golden = make_golden(models["generator"], models.get("discriminator"), inputs, fixed_noise)
    save_golden(staging / GOLDEN, golden)
    return golden


def _manifest(request: ExportRequest, described: dict) -> dict:
    """manifest.json before parity: what was written, from what, by which versions."""
    architecture = request.architecture
    return {
        "arch": {"name": architecture.name, **(request.arch_ref.to_dict() if request.arch_ref else {})},
        "dataset": request.dataset,
        "z_shape": list(architecture.z_shape),
        "image_shape": list(architecture.image_shape),
        "discriminator_output": architecture.discriminator_output if request.discriminator else None,
        "source": request.source or {"run_dir": None, "note": "exported through the Python API"},
        "exporter": request.exporter,
        # What the files say, which may differ from what was asked for.
        "opset": described["generator"]["opset"],
        "trace_batch": TRACE_BATCH,
        "golden": {"file": GOLDEN, "seed": GOLDEN_SEED, "batches": list(PARITY_BATCHES)},
        "versions": _versions(),
        "models": described,
        "tolerances": {k: vars(v) for k, v in DEFAULT_TOLERANCES.items()},
        "files": [f"{m}.{ext}" for m in described for ext in ("pt", "onnx")] + [GOLDEN],
    }


def _record_parity(staging: Path, comparisons: list[Comparison], image_results: list[dict]) -> None:
    manifest = read_manifest(staging)
    manifest["parity"] = [c.to_dict() for c in comparisons]
    manifest["image_parity"] = image_results
    write_manifest(staging, manifest)


def io_names(architecture_output: str) -> dict[str, tuple[str, str]]:
    """ONNX input/output names per model; D's output is named after what it outputs."""
    return {"generator": ("z", "image"), "discriminator": ("image", architecture_output)}


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
