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
from gan.models.spec import load_architecture
from gan.report.pictures import save_grid
from gan.runs.checkpoint import FIXED_NOISE_SIZE, Checkpoint, save_checkpoint
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
    fixed_noise = architecture.noise(FIXED_NOISE_SIZE, seed)
    images = _fixed_grid(architecture, generator, fixed_noise)
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
        save_grid(images, run_dir / IMPORTED_SAMPLES)
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
def _fixed_grid(architecture: Architecture, generator: nn.Module, fixed_noise: torch.Tensor) -> torch.Tensor:
    """G's images of the fixed noise, which must have the shape the architecture declares."""
    images = generator.eval()(fixed_noise)
    if tuple(images.shape[1:]) != architecture.image_shape:
        raise GanError(
            f"the generator makes images of shape {tuple(images.shape[1:])}, but architecture "
            f"{architecture.name!r} declares image_shape {architecture.image_shape}"
        )
    return images
