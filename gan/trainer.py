"""`gan train`: the seed's GAN trained on whole-dataset tensors, with a run dir a person can read.

The run dir is everything later commands need: config.json, the checkpoint, sample grids per
epoch, progress.gif, losses.csv and losses.png. Artifacts are written by rank 0 only and the data
RNG is seeded from the base seed plus the rank, so the loop also holds under torchrun.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from rich.console import Console

from gan.architecture import Architecture
from gan.architectures import load_architecture
from gan.atomic import write_text
from gan.checkpoint import (
    CHECKPOINT_JSON,
    Checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from gan.config import TrainConfig
from gan.data import default_data_dir, get_spec, load_dataset
from gan.errors import GanError
from gan.pictures import plot_fcd, plot_losses, read_losses, save_gif, save_grid
from gan.progress import make_progress
from gan.step import STAT_NAMES, GanStep, make_optimizer, normalize

FIXED_NOISE_SIZE = 64
LOSS_COLUMNS = ("epoch", "step", *STAT_NAMES)
# One host sync per this many steps, to refresh the progress bar and catch NaNs early.
REPORT_EVERY = 25


@dataclass
class TrainResult:
    run_dir: Path
    epochs_completed: int
    seconds_per_epoch: list[float] = field(default_factory=list)
    last_stats: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False


def prepare_run_dir(run_dir: Path, force: bool) -> None:
    """Refuses to write into an existing run dir unless told to replace it, and never deletes a
    directory that does not look like one of ours."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise GanError(f"{run_dir} exists and is not a directory")
    if not any(run_dir.iterdir()):
        return
    if not force:
        raise GanError(
            f"run dir {run_dir} already exists; use --resume {run_dir} to continue it, "
            "--force to replace it, or --out to pick another"
        )
    if not (run_dir / "config.json").exists():
        raise GanError(
            f"--force will not delete {run_dir}: it has files but no config.json, "
            "so it does not look like a run dir"
        )
    shutil.rmtree(run_dir)


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def train(
    config: TrainConfig,
    run_dir: Path,
    device: torch.device,
    *,
    data_dir: Path | None = None,
    resume: bool = False,
    force: bool = False,
    console: Console | None = None,
) -> TrainResult:
    console = console or Console()
    run_dir = Path(run_dir)
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(run_dir)
        config = TrainConfig.from_dict(
            {**checkpoint.config.to_dict(), "epochs": config.epochs, "compile": config.compile}
        )
    # Everything a user can get wrong is checked before the run dir is touched.
    architecture, ref = load_architecture(config.arch)
    config = TrainConfig.from_dict({**config.to_dict(), "arch": ref.spec})
    get_spec(config.dataset)
    dataset = load_dataset(config.dataset, data_dir, log=lambda m: console.print(f"[yellow]{m}"))
    check_trainable(architecture, (1, *dataset.train_images.shape[1:]), config.dataset)
    if not resume:
        prepare_run_dir(run_dir, force)
    rank = _rank()
    is_main = rank == 0
    images = dataset.train_images[: config.limit].to(device)

    generator, discriminator = architecture.build(config.seed)
    generator.to(device).train()
    discriminator.to(device).train()
    betas = (config.beta1, config.beta2)
    opt_g, opt_d = (
        make_optimizer(generator, config.lr, betas),
        make_optimizer(discriminator, config.lr, betas),
    )
    rng = torch.Generator(device=device).manual_seed(config.seed + rank)
    fixed_noise = torch.randn(
        FIXED_NOISE_SIZE, *architecture.z_shape, generator=torch.Generator().manual_seed(config.seed)
    )
    start_epoch, global_step = 0, 0
    if checkpoint is not None:
        load_weights(generator, checkpoint.generator, "generator")
        if checkpoint.discriminator is not None:
            load_weights(discriminator, checkpoint.discriminator, "discriminator")
        # An imported run has weights but no optimizer state or RNG yet: those start fresh.
        if checkpoint.opt_g is not None and checkpoint.opt_d is not None:
            opt_g.load_state_dict(checkpoint.opt_g)
            opt_d.load_state_dict(checkpoint.opt_d)
        if checkpoint.rng_state is not None:
            rng.set_state(checkpoint.rng_state)
        fixed_noise = checkpoint.fixed_noise
        start_epoch, global_step = checkpoint.epoch, checkpoint.step
        if start_epoch >= config.epochs:
            raise GanError(
                f"{run_dir} already completed {start_epoch} epochs; pass --epochs N "
                f"with N > {start_epoch} to train further"
            )
    fixed_noise = fixed_noise.to(device)

    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(
            run_dir / "config.json",
            json.dumps(
                {
                    **config.to_dict(),
                    "device": str(device),
                    "train_images": len(images),
                    "torch": torch.__version__,
                },
                indent=2,
            ),
        )
        if not (run_dir / "real_samples.png").exists():
            # A seeded sample of its own, so the picture never consumes the training RNG.
            sample = torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed))
            save_grid(normalize(images[sample[:FIXED_NOISE_SIZE].to(device)]), run_dir / "real_samples.png")

    step = GanStep(
        generator,
        discriminator,
        opt_g,
        opt_d,
        output_kind=architecture.discriminator_output,
        compile=config.compile,
    )
    fcd_tracker = None
    if config.eval_every and is_main:
        from gan.evaluation import FcdTracker  # needs the classifier: only load it when asked

        fcd_tracker = FcdTracker(
            dataset, data_dir or default_data_dir(), device, log=lambda m: console.print(f"[dim]{m}")
        )
    batch = config.batch_size
    steps_per_epoch = math.ceil(len(images) / batch)
    loss_rows = [r for r in read_losses(run_dir / "losses.csv") if r["epoch"] <= start_epoch]
    result = TrainResult(run_dir=run_dir, epochs_completed=start_epoch)
    if step.compile_skipped:
        console.print(
            f"[dim]{architecture.name} has BatchNorm, which the whole-step graph cannot hold; "
            "training with the eager step"
        )
    elif config.compile:
        console.print("[dim]compiling the training step (once per run; --no-compile skips it)")

    with make_progress(console) as progress:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            task = progress.add_task(f"epoch {epoch}/{config.epochs}", total=steps_per_epoch, status="")
            started = time.perf_counter()
            shuffled = images[torch.randperm(len(images), generator=rng, device=device)]
            noise = torch.randn(steps_per_epoch, batch, *architecture.z_shape, generator=rng, device=device)
            stats = torch.empty(steps_per_epoch, len(STAT_NAMES), device=device)
            try:
                for i in range(steps_per_epoch):
                    real = shuffled[i * batch : (i + 1) * batch]
                    stats[i] = step(real, noise[i, : len(real)])
                    if i % REPORT_EVERY == REPORT_EVERY - 1 or i == steps_per_epoch - 1:
                        latest = dict(zip(STAT_NAMES, stats[i].tolist()))
                        _check_finite(latest, epoch, i, run_dir, start_epoch=epoch - 1)
                        progress.update(task, completed=i + 1, status=_format_stats(latest))
            except KeyboardInterrupt:
                result.interrupted = True
                break
            global_step += steps_per_epoch
            epoch_stats = stats.cpu()
            if not torch.isfinite(epoch_stats).all():
                bad = int((~torch.isfinite(epoch_stats)).any(dim=1).nonzero()[0])
                _check_finite({"loss": float("nan")}, epoch, bad, run_dir, start_epoch=epoch - 1)
            seconds = time.perf_counter() - started
            result.seconds_per_epoch.append(seconds)
            result.last_stats = dict(zip(STAT_NAMES, epoch_stats[-1].tolist()))
            first_step = global_step - steps_per_epoch
            loss_rows += [
                {"epoch": epoch, "step": first_step + i + 1, **dict(zip(STAT_NAMES, row))}
                for i, row in enumerate(epoch_stats.tolist())
            ]
            if is_main:
                _write_epoch_artifacts(run_dir, epoch, generator, fixed_noise, loss_rows, steps_per_epoch)
                if fcd_tracker is not None and epoch % config.eval_every == 0:
                    _record_fcd(run_dir, epoch, fcd_tracker(generator, architecture.z_shape))
                save_checkpoint(
                    run_dir,
                    Checkpoint(
                        config=config,
                        epoch=epoch,
                        step=global_step,
                        generator=generator.state_dict(),
                        discriminator=discriminator.state_dict(),
                        opt_g=opt_g.state_dict(),
                        opt_d=opt_d.state_dict(),
                        rng_state=rng.get_state(),
                        fixed_noise=fixed_noise,
                    ),
                )
            result.epochs_completed = epoch
            progress.update(task, status=f"{_format_stats(result.last_stats)}  {seconds:.1f}s")
    return result


def check_trainable(architecture: Architecture, data_shape: tuple[int, ...], dataset: str) -> None:
    """Training needs a discriminator and the dataset's image shape."""
    if not architecture.has_discriminator:
        raise GanError(
            f"architecture {architecture.name!r} has no discriminator, so it cannot be trained; "
            "import its weights with `gan import` to export, verify, sample and bench it"
        )
    if tuple(architecture.image_shape) != tuple(data_shape):
        raise GanError(
            f"architecture {architecture.name!r} makes images of shape {tuple(architecture.image_shape)}, "
            f"but {dataset} has {tuple(data_shape)}"
        )


def _check_finite(stats: dict[str, float], epoch: int, step: int, run_dir: Path, start_epoch: int):
    if all(math.isfinite(v) for v in stats.values()):
        return
    kept = (
        f"the checkpoint of epoch {start_epoch} in {run_dir} is kept"
        if (run_dir / CHECKPOINT_JSON).exists()
        else "no epoch had completed, so no checkpoint exists"
    )
    raise GanError(
        f"training diverged: a loss became NaN/inf at epoch {epoch}, step {step + 1}; {kept}. "
        "Try a lower --lr or another --seed"
    )


def _record_fcd(run_dir: Path, epoch: int, fcd: float) -> None:
    path = run_dir / "fcd.csv"
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]] if path.exists() else []
    rows = [(int(e), float(v)) for e, v in rows if int(e) < epoch] + [(epoch, fcd)]
    write_text(path, "epoch,fcd\n" + "".join(f"{e},{v:.4f}\n" for e, v in rows))
    plot_fcd(rows, run_dir / "fcd.png")


def _format_stats(stats: dict[str, float]) -> str:
    return (
        f"Loss_D {stats['loss_d']:.3f}  Loss_G {stats['loss_g']:.3f}  "
        f"D(x) {stats['d_x']:.3f}  D(G(z)) {stats['d_g_z']:.3f}"
    )


@torch.no_grad()
def _write_epoch_artifacts(run_dir, epoch, generator, fixed_noise, loss_rows, steps_per_epoch):
    generator.eval()
    samples = generator(fixed_noise)
    generator.train()
    save_grid(samples, run_dir / "samples" / f"epoch_{epoch:03d}.png")
    save_gif(sorted((run_dir / "samples").glob("epoch_*.png")), run_dir / "progress.gif")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in loss_rows:
        writer.writerow({k: int(row[k]) if k in ("epoch", "step") else f"{row[k]:.6g}" for k in LOSS_COLUMNS})
    write_text(run_dir / "losses.csv", buffer.getvalue())
    plot_losses(loss_rows, steps_per_epoch, run_dir / "losses.png")
