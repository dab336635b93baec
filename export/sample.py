"""`gan sample`: images from the generator of a run, an export dir or a single artifact, via any backend.

This is how a user deploys the exported generator: the same seed gives the same picture whatever
runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from gan.data.images import read_images
from gan.errors import EnvironmentMissing, GanError
from gan.export.backends import (
    Backend,
    ModelSource,
    NotApplicable,
    Unavailable,
    backend_spec,
    build_backends,
    sample_backends,
)
from gan.export.backends.eager import TorchBackend
from gan.export.backends.onnxruntime import OnnxRuntimeBackend
from gan.export.backends.torchscript import torchscript_backend
from gan.export.formats import CODE_FORMATS
from gan.export.manifest import MANIFEST, manifest_signature, read_manifest
from gan.export.verify import parity_gate
from gan.models.calls import user_code
from gan.models.inputs import Image, Labels, Noise, Signature, as_called
from gan.runs.checkpoint import CHECKPOINT_JSON, load_checkpoint
from gan.runs.trained import load_trained_run
from gan.train.config import check_seed


def generator_backend(
    source: Path,
    backend: str,
    device: torch.device,
    trust_code: bool = True,
    *,
    strict: bool = False,
    warn: Callable[[str], None] = lambda _: None,
    precision: str = "fp32",
) -> tuple[Backend, Signature]:
    """The generator behind `source` on `backend` in `precision` (an export's variant, or what the
    runtime runs reduced), and how it is called. `trust_code` False refuses TorchScript, which is
    code (see docs/trust.md). An export that failed parity is used with a `warn`ing, or refused
    when `strict`."""
    spec = backend_spec(backend, among=sample_backends())
    if (problem := spec.problem(device)) is not None:  # a library or provider missing here
        raise EnvironmentMissing(f"cannot run {backend} on {device}: {problem}")
    if precision not in spec.precisions:
        raise GanError(f"{backend} runs {', '.join(spec.precisions)}, not {precision}")
    if precision != "fp32" and Path(source).is_file():
        raise GanError(f"--precision {precision} needs an export dir (or a run dir with export/)")
    if spec.reads in CODE_FORMATS and not trust_code:
        raise GanError(
            f"--untrusted refuses {backend}: loading its {spec.reads} files runs code; "
            "use --backend onnxruntime"
        )
    source = Path(source)
    if not source.exists():
        raise GanError(f"{source} does not exist")
    if source.is_file():
        return _from_file(source, backend, device)
    if (source / CHECKPOINT_JSON).exists() and backend == "eager" and precision == "fp32":
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
    parity_gate(manifest, strict, warn)
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
        built = build_backends(spec, ModelSource(source, manifest, trust_code=trust_code), device, precision)
    except (Unavailable, NotApplicable) as error:
        raise GanError(f"cannot sample with {backend} on {device}: {error}") from None
    return built["generator"], manifest_signature(manifest)


def check_fresh(run_dir: Path, manifest: dict) -> None:
    """The run's export must come from its current checkpoint: a resumed run makes it stale."""
    exported = manifest["source"].get("checkpoint_sha256")
    current = load_checkpoint(run_dir)
    if exported != current.tensor_sha256:
        raise GanError(
            f"{run_dir}/export is stale: it was exported from epoch {manifest['source'].get('epoch')}, "
            f"the run is now at epoch {current.epoch}; run `gan export {run_dir} --force`"
        )


def _eager_from_run(run_dir: Path, device: torch.device) -> tuple[Backend, Signature]:
    run = load_trained_run(run_dir)
    signature = run.architecture.signature
    return TorchBackend("eager", as_called(signature, "generator", run.generator), device), signature


def _from_file(path: Path, backend: str, device: torch.device) -> tuple[Backend, Signature]:
    wanted = {".pt": "torchscript", ".onnx": "onnxruntime"}.get(path.suffix)
    if wanted is None:
        raise GanError(f"{path}: expected a .pt (TorchScript) or .onnx file, or a run/export dir")
    if wanted != backend:
        raise GanError(f"{path.name} is a {wanted} artifact; pass --backend {wanted}")
    model = (
        torchscript_backend(path, device) if backend == "torchscript" else OnnxRuntimeBackend(path, device)
    )
    if (path.parent / MANIFEST).exists():  # the file's own export dir says how it is called
        return model, manifest_signature(read_manifest(path.parent, verify=False))
    if isinstance(model, OnnxRuntimeBackend) and len(model.inputs) == 1:
        # The model's own declared input: everything after the (symbolic) batch axis.
        z_shape = model.inputs[0].shape[1:]
        if all(isinstance(d, int) for d in z_shape):
            return model, Signature((Noise(tuple(z_shape), model.inputs[0].name),), (), (None, None, None))
        raise GanError(f"{path.name} declares a non-fixed z shape {model.inputs[0].shape}; cannot draw z")
    raise GanError(f"cannot tell how to call {path.name} without the {MANIFEST} beside it")


def sample_images(
    source: Path,
    backend: str,
    n: int,
    seed: int,
    device: torch.device,
    trust_code: bool = True,
    *,
    labels: list[int] | None = None,
    sources: Path | None = None,
    strict: bool = False,
    warn: Callable[[str], None] = lambda _: None,
    precision: str = "fp32",
) -> tuple[torch.Tensor, int]:
    """n images and how many go in a grid row, from G in `precision` (an export's variant).
    Noise is drawn on the CPU from the seed alone, so every backend and device draws the same
    picture. A conditional G draws one row per class of `labels` (default: every class); an
    image-to-image G turns the images at `sources` (a file or a dir of them) into its own, shown
    under them."""
    if not 1 <= n <= 100_000:
        raise GanError(f"-n must be between 1 and 100000, got {n}")
    check_seed(seed)
    generator, signature = generator_backend(
        source, backend, device, trust_code, strict=strict, warn=warn, precision=precision
    )
    conditioning = GridInputs(signature, n, seed, labels=labels, sources=sources)
    names = [spec.name for spec in signature.generator_inputs]
    with user_code(str(source), "generator", names, conditioning.args):
        images = generator(*conditioning.args).cpu()
    return torch.cat([*(fitted(shown, images) for shown in conditioning.shown), images]), conditioning.nrow


def fitted(sources: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Source images drawn at the size and with the channels of G's (a super-resolution G makes
    larger ones): scaled by nearest neighbour, so the source's own pixels stay visible."""
    if sources.shape[-2:] != images.shape[-2:]:
        sources = torch.nn.functional.interpolate(sources, size=tuple(images.shape[-2:]), mode="nearest")
    if sources.shape[1] != images.shape[1]:  # grey beside colour, or colour beside grey
        grey = sources.mean(dim=1, keepdim=True)
        sources = grey.expand(-1, images.shape[1], -1, -1) if images.shape[1] > 1 else grey
    return sources


class GridInputs:
    """G's inputs for a picture of n images: seeded noise, labels one row per class, source images
    read from files. `args` is what G takes, `shown` what is drawn above G's images (the sources),
    `nrow` the images per grid row."""

    def __init__(self, signature: Signature, n: int, seed: int, *, labels=None, sources=None):
        specs = signature.generator_inputs
        label_spec = next((s for s in specs if isinstance(s, Labels)), None)
        image_spec = next((s for s in specs if isinstance(s, Image)), None)
        if labels is not None and label_spec is None:
            raise GanError("--labels is for a class-conditional generator; this one takes no labels")
        if sources is not None and image_spec is None:
            raise GanError("--input is for an image-to-image generator; this one takes no source image")
        if image_spec is not None and sources is None:
            raise GanError(
                "this generator turns a source image into its own; pass --input DIR|FILE of images"
            )
        self.nrow, self.shown = None, []
        drawn = {}
        if label_spec is not None:
            rows = _labels(labels, label_spec)
            self.nrow = max(1, n // len(rows))
            drawn[label_spec.name] = torch.tensor(rows).repeat_interleave(self.nrow)
        if image_spec is not None:
            images = read_images(
                sources, image_spec.shape, limit=n, size=signature.sizes[0] if signature.sizes else None
            )
            drawn[image_spec.name] = images
            self.shown, self.nrow = [images], len(images)
        count = len(next(iter(drawn.values()))) if drawn else n
        generator = torch.Generator().manual_seed(seed)
        self.args = tuple(
            drawn[spec.name] if spec.name in drawn else spec.draw(count, generator) for spec in specs
        )


def _labels(labels: list[int] | None, spec: Labels) -> list[int]:
    if labels is None:
        return list(range(spec.num_classes))
    if not labels or any(not 0 <= label < spec.num_classes for label in labels):
        raise GanError(f"--labels takes classes from 0 to {spec.num_classes - 1}, got {labels}")
    return list(labels)
