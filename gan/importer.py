"""`gan import`: a run dir from a user's existing weights, so export, verify, sample, bench, eval
and report work on it as on a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gan.architectures import load_architecture
from gan.atomic import write_text
from gan.checkpoint import Checkpoint, load_weights, save_checkpoint
from gan.config import TrainConfig, check_seed
from gan.errors import GanError
from gan.locking import exclusive
from gan.ownership import RUN_FORMAT
from gan.pictures import save_grid
from gan.trainer import FIXED_NOISE_SIZE, check_run_dir, prepare_run_dir
from gan.weights import load_state_dict_file

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
    check_run_dir(run_dir, force)
    architecture, ref = load_architecture(arch)
    if discriminator_weights is not None and not architecture.has_discriminator:
        raise GanError(
            f"--discriminator was given, but architecture {architecture.name!r} is generator-only "
            "(its discriminator is None)"
        )
    generator, discriminator = architecture.build(seed)
    load_weights(generator, load_state_dict_file(generator_weights), "generator")
    if discriminator_weights is not None:
        load_weights(discriminator, load_state_dict_file(discriminator_weights), "discriminator")
    else:
        discriminator = None
    fixed_noise = torch.randn(
        FIXED_NOISE_SIZE, *architecture.z_shape, generator=torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        images = generator.eval()(fixed_noise)
    if tuple(images.shape[1:]) != architecture.image_shape:
        raise GanError(
            f"the generator makes images of shape {tuple(images.shape[1:])}, but architecture "
            f"{architecture.name!r} declares image_shape {architecture.image_shape}"
        )
    config = TrainConfig(arch=ref.spec, seed=seed, epochs=1)
    with exclusive(run_dir, "run dir"):
        prepare_run_dir(run_dir, force)
        _write_run(run_dir, config, ref.sha256, generator, discriminator, fixed_noise, images,
                   generator_weights, discriminator_weights)  # fmt: skip
    return run_dir


def _write_run(run_dir, config, arch_sha256, generator, discriminator, fixed_noise, images, g_file, d_file):
    run_dir.mkdir(parents=True, exist_ok=True)
    imported = {"generator": str(Path(g_file).resolve())}
    if d_file is not None:
        imported["discriminator"] = str(Path(d_file).resolve())
    meta = {"format": RUN_FORMAT, **config.to_dict(), "imported": imported, "arch_sha256": arch_sha256}
    write_text(run_dir / "config.json", json.dumps(meta, indent=2))
    save_grid(images, run_dir / IMPORTED_SAMPLES)
    save_checkpoint(
        run_dir,
        Checkpoint(
            config=config,
            epoch=0,
            step=0,
            generator=generator.state_dict(),
            discriminator=discriminator.state_dict() if discriminator is not None else None,
            opt_g=None,
            opt_d=None,
            rng_state=None,
            fixed_noise=fixed_noise,
        ),
    )
