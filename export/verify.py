"""Parity: every backend that `parity_on` names, against the golden outputs that eager PyTorch
computed at export time. `gan export` runs it on what it just wrote; `gan verify` runs it from the
export dir alone, without the checkpoint or the Architecture."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan.errors import GanError
from gan.export.backends import ModelSource, Unavailable, build_backends, parity_backends
from gan.export.golden import fixed_inputs, golden_inputs, load_golden, parity_cases
from gan.export.image_parity import check_image_parity
from gan.export.manifest import effective_tolerances, manifest_signature, read_manifest
from gan.export.parity import DEFAULT_TOLERANCES, DISTRIBUTION_BOUND, Comparison, check_backends
from gan.report.tables import model_label


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
    cases = parity_cases(source.signature, "discriminator" in source.models)
    if source.signature.stochastic:
        # A random G is compared by distribution, and D on its own golden inputs; D on a random G's
        # images has too little spread of its own for a distribution to say anything.
        cases = [case for case in cases if case[1] != "chain"]
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
            backends += [(key, built[model]) for key, model, _ in cases]
    try:
        inputs = {key: golden_inputs(golden, source.signature, key) for key, _, _ in cases}
        expected = {key: golden[f"{key}.output"] for key, _, _ in cases}
        fixed, fixed_images = fixed_inputs(golden, source.signature), golden["fixed_images"]
    except KeyError as error:
        raise GanError(f"{manifest['golden']['file']} lacks {error}; re-run gan export") from None
    tolerances = effective_tolerances(manifest, DEFAULT_TOLERANCES)
    random = frozenset({"generator"} if source.signature.stochastic else ())
    batches = manifest["golden"]["batches"]
    comparisons = check_backends(backends, inputs, expected, tolerances, batches, by_distribution=random)
    if random:  # two runs of a stochastic G draw different pictures: nothing to compare pixel by pixel
        return comparisons, []
    grid_case = cases[0][0]  # the generator, at its first size: where the fixed grid is drawn
    generators = [b for key, b in backends if key == grid_case]
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


def call_notes(manifest: dict) -> list[str]:
    """What the exported models were called with beyond their inputs (fixed and default keyword
    arguments, baked into the files), and how a stochastic G is compared: lines for `gan verify`."""
    notes = []
    for model, described in manifest["models"].items():
        baked = described.get("baked_arguments") or {}
        if baked:
            notes.append(f"{model} exported with " + ", ".join(f"{k}={v}" for k, v in baked.items()))
    if manifest_signature(manifest).stochastic:
        notes.append(
            "the generator is stochastic: compared by distribution (mean and std within "
            f"{DISTRIBUTION_BOUND:.0%} of the reference's std); the chain D(G(...)) is not compared"
        )
    return notes


def failed_parity(manifest: dict) -> list[str]:
    """The comparisons an export failed when it was made, as "G on onnxruntime (cpu) at batch 64"."""
    return [
        f"{model_label(c['model'])} on {c['backend']} ({c['device']}) at batch {c['batch']}"
        for c in manifest.get("parity", [])
        if isinstance(c, dict) and not c.get("passed", True)
    ]


def parity_gate(manifest: dict, strict: bool, warn) -> None:
    """An export that failed parity is used with a warning naming what failed, or, with
    `strict`, refused."""
    if not (failed := failed_parity(manifest)):
        return
    shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    line = f"this export failed parity when it was made ({shown}); its outputs may not be the model's"
    if strict:
        raise GanError(f"{line} (--strict refuses it)")
    warn(line)
