"""Parity: every backend that `parity_on` names, against the golden outputs that eager PyTorch
computed at export time. `gan export` runs it on what it just wrote; `gan verify` runs it from the
export dir alone, without the checkpoint or the Architecture."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan.errors import GanError
from gan.export.backends import ModelSource, Unavailable, build_backends, parity_backends
from gan.export.golden import fixed_inputs, golden_inputs, load_golden
from gan.export.image_parity import check_image_parity
from gan.export.manifest import effective_tolerances, manifest_signature, read_manifest
from gan.export.parity import DEFAULT_TOLERANCES, Comparison, check_backends


def prove_parity(
    export_dir: Path,
    manifest: dict,
    golden: dict[str, torch.Tensor],
    device: torch.device,
    *,
    eager: dict[str, nn.Module] | None = None,
    grid_path: Path | None = None,
    trust_code: bool = True,
) -> tuple[list[Comparison], list[dict]]:
    """Every parity backend on the CPU, and on `device` too when it is CUDA, against golden; the
    fixed-noise grids side by side into `grid_path` when given.

    Eager is checked only when its modules are given. A backend that cannot run here (e.g. ORT
    CUDA without onnxruntime-gpu) raises GanError, since the user asked for that device.
    TorchScript is skipped unless `trust_code`."""
    source = ModelSource(export_dir, manifest, eager, trust_code=trust_code)
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    models = [*source.models, *(["chain"] if "discriminator" in source.models else [])]
    backends = []
    for dev in devices:
        for spec in parity_backends(dev):
            if spec.name == "eager" and eager is None:
                continue
            if spec.name == "torchscript" and not trust_code:
                continue
            try:
                built = build_backends(spec, source, dev)
            except Unavailable as error:
                raise GanError(f"cannot check {spec.name} on {dev}: {error}") from None
            backends += [(model, built[model]) for model in models]
    try:
        inputs = {m: golden_inputs(golden, source.signature, m) for m in models}
        expected = {m: golden[f"{m}.output"] for m in models}
        fixed, fixed_images = fixed_inputs(golden, source.signature), golden["fixed_images"]
    except KeyError as error:
        raise GanError(f"{manifest['golden']['file']} lacks {error}; re-run gan export") from None
    tolerances = effective_tolerances(manifest, DEFAULT_TOLERANCES)
    comparisons = check_backends(backends, inputs, expected, tolerances, manifest["golden"]["batches"])
    generators = [b for model, b in backends if model == "generator"]
    image_results = check_image_parity(generators, fixed, fixed_images, grid_path)
    return comparisons, image_results


def verify_export(
    export_dir: Path, device: torch.device, grid_path: Path | None = None, trust_code: bool = True
) -> tuple[list[Comparison], list[dict]]:
    """Parity from the manifest and golden I/O alone: no checkpoint, no Architecture needed."""
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    golden = load_golden(export_dir / manifest["golden"]["file"], manifest_signature(manifest))
    return prove_parity(export_dir, manifest, golden, device, grid_path=grid_path, trust_code=trust_code)
