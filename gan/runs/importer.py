"""`gan import`: a run dir from a user's existing weights, so export, verify, sample, bench, eval
and report work on it as on a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from gan.errors import GanError
from gan.files.atomic import write_text
from gan.files.locking import exclusive
from gan.files.ownership import RUN_FORMAT, check_target, prepare_run_dir
from gan.models.architecture import Architecture
from gan.models.calls import call, check_calls
from gan.models.inputs import Labels, Noise, as_called
from gan.models.spec import load_architecture
from gan.report.pictures import save_grid
from gan.runs.checkpoint import GRID_COLUMNS, Checkpoint, fixed_grid_labels, fixed_grid_size, save_checkpoint
from gan.runs.weights import load_state_dict_file, load_weights
from gan.train.config import TrainConfig, check_seed

IMPORTED_SAMPLES = "samples/epoch_000.png"


def import_weights(
    run_dir: str | Path,
    arch: str,
    generator_weights: str | Path,
    discriminator_weights: str | Path | None = None,
    *,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Checks everything first (architecture, files, keys and shapes), then writes the run dir."""
    run_dir = Path(run_dir)
    check_seed(seed)
    check_target(run_dir, force, "run dir")
    architecture, ref = load_architecture(arch)
    generator, discriminator = _models(architecture, generator_weights, discriminator_weights, seed)
    check_calls(architecture, generator, discriminator)
    signature = architecture.signature
    fixed = signature.draw(
        "generator", fixed_grid_size(signature), seed, size=signature.sizes[0] if signature.sizes else None
    )
    grid_labels = fixed_grid_labels(
        signature
    )  # a conditional G's grid: one class per row, as training draws it
    fixed = tuple(
        grid_labels if isinstance(spec, Labels) else x for spec, x in zip(signature.generator_inputs, fixed)
    )
    images = _fixed_grid(architecture, generator, discriminator, fixed)
    # The checkpoint keeps the grid's noise (a run's fixed noise); any other input G takes is drawn
    # again from the seed.
    noise = [x for spec, x in zip(signature.generator_inputs, fixed) if isinstance(spec, Noise)]
    fixed_noise = noise[0] if noise else torch.zeros(fixed_grid_size(signature), 0)
    config = TrainConfig(arch=ref.spec, seed=seed, epochs=1)
    checkpoint = Checkpoint(
        config=config,
        epoch=0,
        step=0,
        generator=generator.state_dict(),
        discriminator=discriminator.state_dict() if discriminator is not None else None,
        opt_g=None,
        opt_d=None,
        rng_state=None,
        fixed_noise=fixed_noise,
    )
    files = {"generator": generator_weights, "discriminator": discriminator_weights}
    imported = {role: str(Path(path).resolve()) for role, path in files.items() if path is not None}
    meta = {"format": RUN_FORMAT, **config.to_dict(), "imported": imported, "arch_sha256": ref.sha256}
    with exclusive(run_dir, "run dir"):
        prepare_run_dir(run_dir, force)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "config.json", json.dumps(meta, indent=2))
        save_grid(images, run_dir / IMPORTED_SAMPLES, nrow=GRID_COLUMNS if grid_labels is not None else None)
        save_checkpoint(run_dir, checkpoint)
    return run_dir


def _models(architecture: Architecture, generator_weights, discriminator_weights, seed: int):
    """G with its weights, and D with its weights when a file is given for it (else None)."""
    if discriminator_weights is not None and not architecture.has_discriminator:
        raise GanError(
            f"--discriminator was given, but architecture {architecture.name!r} is generator-only "
            "(its discriminator is None)"
        )
    generator, discriminator = architecture.build(seed)
    load_weights(generator, load_state_dict_file(generator_weights), "generator")
    if discriminator_weights is None:
        return generator, None
    load_weights(discriminator, load_state_dict_file(discriminator_weights), "discriminator")
    return generator, discriminator


@torch.no_grad()
def _fixed_grid(
    architecture: Architecture, generator: nn.Module, discriminator, fixed: tuple
) -> torch.Tensor:
    """G's images of the fixed grid inputs, which must have the shape the architecture declares,
    and D run on them with the inputs it shares with G: a mismatch is found here, not at export."""
    signature, name = architecture.signature, architecture.name
    names = [spec.name for spec in signature.generator_inputs]
    images = call(
        as_called(signature, "generator", generator.eval()),
        fixed,
        architecture=name,
        role="generator",
        names=names,
    )
    declared = signature.image_shape
    if images.dim() != 4 or any(d is not None and d != a for d, a in zip(declared, images.shape[1:])):
        raise GanError(
            f"the generator makes images of shape {tuple(images.shape[1:])}, but architecture "
            f"{name!r} declares image_shape {declared}"
        )
    if discriminator is not None:
        d_args = signature.discriminator_args(fixed, images)
        call(
            as_called(signature, "discriminator", discriminator.eval()),
            d_args,
            architecture=name,
            role="discriminator",
            names=signature.discriminator_inputs,
        )
    return images
