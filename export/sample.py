"""`gan sample`: images from the generator of a run, an export dir or a single artifact, via any backend.

This is how a user deploys the exported generator: the same seed gives the same picture whatever
runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from export.artifacts import artifact_path
from export.backends import Backend, OnnxRuntimeBackend, eager_backend, torchscript_backend
from export.manifest import MANIFEST, read_manifest
from gan.checkpoint import CHECKPOINT_JSON, load_checkpoint, trained_models
from gan.errors import GanError

SAMPLE_BACKENDS = ("eager", "torchscript", "onnxruntime")


def generator_backend(source: Path, backend: str, device: torch.device) -> tuple[Backend, int]:
    """The generator behind `source` on `backend`, and its z dimension."""
    if backend not in SAMPLE_BACKENDS:
        raise GanError(f"unknown backend {backend!r}; choose one of {', '.join(SAMPLE_BACKENDS)}")
    source = Path(source)
    if not source.exists():
        raise GanError(f"{source} does not exist")
    if source.is_file():
        return _from_file(source, backend, device)
    if (source / CHECKPOINT_JSON).exists() and backend == "eager":
        return _eager_from_run(source, device)
    if (source / CHECKPOINT_JSON).exists():
        if not (source / "export" / MANIFEST).exists():
            raise GanError(f"{source} has no export/ yet; run `gan export {source}` first")
        source = source / "export"
    if not (source / MANIFEST).exists():
        raise GanError(f"{source} is neither a run dir ({CHECKPOINT_JSON}) nor an export dir ({MANIFEST})")
    manifest = read_manifest(source)
    if backend == "eager":
        run_dir = Path(manifest["source"]["run_dir"])
        if not (run_dir / CHECKPOINT_JSON).exists():
            raise GanError(
                f"eager needs the checkpoint, and {run_dir} (the export's source) is gone; "
                "use --backend torchscript or onnxruntime"
            )
        return _eager_from_run(run_dir, device)
    fmt = "torchscript" if backend == "torchscript" else "onnx"
    path = artifact_path(source, manifest, "generator", fmt)
    return _artifact(path, backend, device), manifest["z_dim"]


def _eager_from_run(run_dir: Path, device: torch.device) -> tuple[Backend, int]:
    checkpoint = load_checkpoint(run_dir)
    generator, _ = trained_models(checkpoint)
    return eager_backend(generator, device), checkpoint.config.z_dim


def _artifact(path: Path, backend: str, device: torch.device) -> Backend:
    if backend == "torchscript":
        return torchscript_backend(path, device)
    return OnnxRuntimeBackend(path, device)


def _from_file(path: Path, backend: str, device: torch.device) -> tuple[Backend, int]:
    wanted = {".pt": "torchscript", ".onnx": "onnxruntime"}.get(path.suffix)
    if wanted is None:
        raise GanError(f"{path}: expected a .pt (TorchScript) or .onnx file, or a run/export dir")
    if wanted != backend:
        raise GanError(f"{path.name} is a {wanted} artifact; pass --backend {wanted}")
    model = _artifact(path, backend, device)
    manifest_path = path.parent / MANIFEST
    if manifest_path.exists():
        return model, json.loads(manifest_path.read_text())["z_dim"]
    if isinstance(model, OnnxRuntimeBackend):
        return model, int(model.inputs[0].shape[1])
    raise GanError(f"cannot tell the z size of {path.name} without the {MANIFEST} beside it")


def sample_images(source: Path, backend: str, n: int, seed: int, device: torch.device) -> torch.Tensor:
    if n < 1:
        raise GanError(f"-n must be at least 1, got {n}")
    generator, z_dim = generator_backend(source, backend, device)
    # Noise is drawn on the CPU from the seed alone, so every backend and device sees the same z.
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    return generator(z).cpu()
