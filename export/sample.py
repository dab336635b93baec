"""`gan sample`: images from the generator of a run, an export dir or a single artifact, via any backend.

This is how a user deploys the exported generator: the same seed gives the same picture whatever
runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gan.errors import GanError
from gan.export.backends import (
    Backend,
    ModelSource,
    Unavailable,
    backend_spec,
    build_backends,
    sample_backends,
)
from gan.export.backends.eager import TorchBackend
from gan.export.backends.onnxruntime import OnnxRuntimeBackend
from gan.export.backends.torchscript import UNTRUSTED, torchscript_backend
from gan.export.manifest import MANIFEST, read_manifest
from gan.runs.checkpoint import CHECKPOINT_JSON, load_checkpoint
from gan.runs.trained import load_trained_run
from gan.train.config import check_seed


def generator_backend(
    source: Path, backend: str, device: torch.device, trust_code: bool = True
) -> tuple[Backend, tuple[int, ...]]:
    """The generator behind `source` on `backend`, and its per-sample z shape. `trust_code` False
    refuses TorchScript, which is code (see docs/trust.md)."""
    spec = backend_spec(backend, among=sample_backends())
    if backend == "torchscript" and not trust_code:
        raise GanError(f"--untrusted refuses TorchScript: {UNTRUSTED}; use --backend onnxruntime")
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
        trained_run, source = source, source / "export"
    else:
        trained_run = None
    if not (source / MANIFEST).exists():
        raise GanError(f"{source} is neither a run dir ({CHECKPOINT_JSON}) nor an export dir ({MANIFEST})")
    manifest = read_manifest(source)
    if trained_run is not None:
        check_fresh(trained_run, manifest)
    z_shape = tuple(manifest["z_shape"])
    if backend == "eager":
        run_dir = manifest["source"].get("run_dir")
        if not run_dir or not (Path(run_dir) / CHECKPOINT_JSON).exists():
            where = (
                f"its source run dir {run_dir} is gone" if run_dir else "it was not exported from a run dir"
            )
            raise GanError(
                f"eager needs the checkpoint, and {where}; use --backend torchscript or onnxruntime"
            )
        return _eager_from_run(Path(run_dir), device)
    try:
        built = build_backends(spec, ModelSource(source, manifest, trust_code=trust_code), device)
    except Unavailable as error:
        raise GanError(f"cannot sample with {backend} on {device}: {error}") from None
    return built["generator"], z_shape


def check_fresh(run_dir: Path, manifest: dict) -> None:
    """The run's export must come from its current checkpoint: a resumed run makes it stale."""
    exported = manifest["source"].get("checkpoint_sha256")
    current = load_checkpoint(run_dir)
    if exported != current.tensor_sha256:
        raise GanError(
            f"{run_dir}/export is stale: it was exported from epoch {manifest['source'].get('epoch')}, "
            f"the run is now at epoch {current.epoch}; run `gan export {run_dir} --force`"
        )


def _eager_from_run(run_dir: Path, device: torch.device) -> tuple[Backend, tuple[int, ...]]:
    run = load_trained_run(run_dir)
    return TorchBackend("eager", run.generator, device), run.architecture.z_shape


def _from_file(path: Path, backend: str, device: torch.device) -> tuple[Backend, tuple[int, ...]]:
    wanted = {".pt": "torchscript", ".onnx": "onnxruntime"}.get(path.suffix)
    if wanted is None:
        raise GanError(f"{path}: expected a .pt (TorchScript) or .onnx file, or a run/export dir")
    if wanted != backend:
        raise GanError(f"{path.name} is a {wanted} artifact; pass --backend {wanted}")
    model = (
        torchscript_backend(path, device) if backend == "torchscript" else OnnxRuntimeBackend(path, device)
    )
    manifest_path = path.parent / MANIFEST
    if manifest_path.exists():
        return model, tuple(json.loads(manifest_path.read_text())["z_shape"])
    if isinstance(model, OnnxRuntimeBackend):
        # The model's own declared input: everything after the (symbolic) batch axis.
        z_shape = model.inputs[0].shape[1:]
        if all(isinstance(d, int) for d in z_shape):
            return model, tuple(z_shape)
        raise GanError(f"{path.name} declares a non-fixed z shape {model.inputs[0].shape}; cannot draw z")
    raise GanError(f"cannot tell the z shape of {path.name} without the {MANIFEST} beside it")


def sample_images(
    source: Path, backend: str, n: int, seed: int, device: torch.device, trust_code: bool = True
) -> torch.Tensor:
    if not 1 <= n <= 100_000:
        raise GanError(f"-n must be between 1 and 100000, got {n}")
    check_seed(seed)
    generator, z_shape = generator_backend(source, backend, device, trust_code)
    # Noise is drawn on the CPU from the seed alone, so every backend and device sees the same z.
    z = torch.randn(n, *z_shape, generator=torch.Generator().manual_seed(seed))
    return generator(z).cpu()
