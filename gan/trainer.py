"""`gan train`: the seed's GAN trained on whole-dataset tensors, with a run dir a person can read.

The run dir is everything later commands need: config.json, the checkpoint, sample grids per
epoch, progress.gif, losses.csv and losses.png. Under torchrun (gan.distributed) every rank trains
its slice of the same global batch and only rank 0 writes the run dir.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console

from gan.architecture import Architecture
from gan.architectures import load_architecture
from gan.atomic import write_text
from gan.checkpoint import CHECKPOINT_JSON, Checkpoint, load_checkpoint, load_weights, save_checkpoint
from gan.config import TrainConfig
from gan.data import default_data_dir, load_dataset
from gan.distributed import World, join, leave
from gan.errors import GanError
from gan.gemm_engine import EngineChoice, choose_engine, use_engine
from gan.locking import exclusive
from gan.ownership import RUN_FORMAT, clear_run_dir, refuse_unsafe_target, require_run_dir
from gan.pictures import plot_fcd, plot_losses, read_losses, save_gif, save_grid
from gan.progress import make_progress
from gan.step import STAT_NAMES, GanStep, make_optimizer, normalize

FIXED_NOISE_SIZE = 64
LOSS_COLUMNS = ("epoch", "step", *STAT_NAMES)
# One host sync per this many steps, to refresh the progress bar and catch NaNs early.
REPORT_EVERY = 25
# Options that a resumed run takes from its checkpoint; giving another value is refused.
FIXED_ON_RESUME = ("arch", "dataset", "batch_size", "lr", "beta1", "beta2", "seed", "limit")


@dataclass
class TrainResult:
    run_dir: Path
    epochs_completed: int
    seconds_per_epoch: list[float] = field(default_factory=list)
    last_stats: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    rank: int = 0


def check_run_dir(run_dir: Path, force: bool) -> None:
    """Refuses a target that cannot be a new run dir; with --force, one that gan did not write."""
    refuse_unsafe_target(run_dir)
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
    require_run_dir(run_dir)


def prepare_run_dir(run_dir: Path, force: bool) -> None:
    """After every input was checked: removes the toolkit's files of a replaced run (only those)."""
    check_run_dir(run_dir, force)
    if force and run_dir.is_dir() and any(run_dir.iterdir()):
        clear_run_dir(run_dir)


@dataclass
class Session:
    """Everything one training run holds between epochs."""

    config: TrainConfig
    architecture: Architecture
    run_dir: Path
    device: torch.device
    world: World
    images: torch.Tensor
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    step: GanStep
    rng: torch.Generator
    fixed_noise: torch.Tensor
    gemm: EngineChoice
    start_epoch: int = 0
    global_step: int = 0
    loss_rows: list[dict] = field(default_factory=list)
    fcd_tracker: object = None

    @property
    def steps_per_epoch(self) -> int:
        # Under torchrun a last batch too small to give every rank a sample is dropped.
        batch, n = self.config.batch_size, len(self.images)
        return n // batch + (n % batch >= self.world.size)


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
    """Trains (or resumes) a run; under torchrun, every rank calls this and rank 0 writes."""
    console = console or Console()
    run_dir = Path(run_dir)
    world, device = join(device)
    if not world.is_main:
        console = Console(quiet=True)
    try:
        session = _set_up(config, run_dir, device, world, data_dir, resume, force, console)
        if not world.is_main:
            return _train_epochs(session, console)
        with exclusive(run_dir, "run dir"):
            if not resume:
                prepare_run_dir(run_dir, force)
            _write_run_start(session)
            return _train_epochs(session, console)
    finally:
        leave()


def _set_up(config, run_dir, device, world, data_dir, resume, force, console) -> Session:
    """Checks every input before anything is written, then builds models, optimizers and step."""
    checkpoint = load_checkpoint(run_dir) if resume else None
    resumed_on = checkpoint.config.gemm if checkpoint is not None else None
    if checkpoint is not None:
        config = _resumed_config(checkpoint.config, config)
    elif world.is_main:
        check_run_dir(run_dir, force)
    architecture, ref = load_architecture(config.arch)
    config = TrainConfig.from_dict({**config.to_dict(), "arch": ref.spec})
    world.check_batch(config.batch_size)
    dataset = _load_data(config.dataset, data_dir, world, console)
    check_trainable(architecture, (1, *dataset.train_images.shape[1:]), config.dataset)
    images = dataset.train_images[: config.limit]
    if config.batch_size > len(images):
        raise GanError(f"--batch-size {config.batch_size} is larger than the {len(images)} training images")
    generator, discriminator = architecture.build(config.seed)
    generator.to(device).train()
    discriminator.to(device).train()
    gemm = _choose_gemm(config, architecture, generator, discriminator, device, world, console, resumed_on)
    config = TrainConfig.from_dict({**config.to_dict(), "gemm": gemm.engine})
    betas = (config.beta1, config.beta2)
    opt_g, opt_d = (
        make_optimizer(generator, config.lr, betas),
        make_optimizer(discriminator, config.lr, betas),
    )
    # The same seed on every rank: all draw the same global batch and noise, and take a slice.
    rng = torch.Generator(device=device).manual_seed(config.seed)
    fixed_noise = torch.randn(
        FIXED_NOISE_SIZE, *architecture.z_shape, generator=torch.Generator().manual_seed(config.seed)
    )
    step = GanStep(
        generator,
        discriminator,
        opt_g,
        opt_d,
        output_kind=architecture.discriminator_output,
        compile=config.compile,
        grad_sync=world.weighted_sum if world.distributed else None,
    )
    session = Session(
        config, architecture, run_dir, device, world, images.to(device), generator, discriminator,
        opt_g, opt_d, step, rng, fixed_noise, gemm,
    )  # fmt: skip
    if checkpoint is not None:
        _restore(session, checkpoint)
    session.fixed_noise = session.fixed_noise.to(device)
    if config.eval_every and world.is_main:
        from gan.evaluation import FcdTracker  # needs the classifier: only load it when asked

        session.fcd_tracker = FcdTracker(
            dataset, data_dir or default_data_dir(), device, log=lambda m: console.print(f"[dim]{m}")
        )
    return session


def _choose_gemm(
    config, architecture, generator, discriminator, device, world, console, resumed_on
) -> EngineChoice:
    """Rank 0 times the engines and every rank takes its answer, so all run the same kernels."""
    choice = None
    if world.is_main:
        local_batch = -(-config.batch_size // world.size)
        with console.status("timing the CPU GEMM engines on this model"):
            choice = choose_engine(
                config.gemm,
                device,
                generator,
                discriminator,
                architecture.z_shape,
                local_batch,
                config.compile,
                resumed_on,
            )
        console.print(f"[dim]GEMM engine: {choice.engine} ({choice.reason})")
    choice = world.broadcast(choice)
    use_engine(generator, choice.engine)
    use_engine(discriminator, choice.engine)
    return choice


def _resumed_config(saved: TrainConfig, given: TrainConfig) -> TrainConfig:
    """The checkpoint's config with the new --epochs/--compile/--gemm/--eval-every; a different value for
    anything that defines the run is refused rather than silently ignored."""
    defaults = TrainConfig()
    changed = [
        name
        for name in FIXED_ON_RESUME
        if getattr(given, name) != getattr(defaults, name) and getattr(given, name) != getattr(saved, name)
    ]
    if changed:
        options = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise GanError(
            f"--resume continues the run as it was configured; {options} cannot change (drop them)"
        )
    per_session = ("epochs", "compile", "gemm", "eval_every")
    return TrainConfig.from_dict({**saved.to_dict(), **{name: getattr(given, name) for name in per_session}})


def _load_data(name: str, data_dir, world: World, console: Console):
    """Only rank 0 may build the cache; the others load it after the barrier."""
    log = lambda m: console.print(f"[yellow]{m}")  # noqa: E731
    if world.is_main:
        dataset = load_dataset(name, data_dir, log=log)
        world.barrier()
        return dataset
    world.barrier()
    return load_dataset(name, data_dir, log=log)


def _restore(session: Session, checkpoint: Checkpoint) -> None:
    load_weights(session.generator, checkpoint.generator, "generator")
    if checkpoint.discriminator is not None:
        load_weights(session.discriminator, checkpoint.discriminator, "discriminator")
    # An imported run has weights but no optimizer state or RNG yet: those start fresh.
    if checkpoint.opt_g is not None and checkpoint.opt_d is not None:
        try:
            session.opt_g.load_state_dict(checkpoint.opt_g)
            session.opt_d.load_state_dict(checkpoint.opt_d)
        except (ValueError, KeyError, TypeError, RuntimeError) as error:
            raise GanError(
                f"the optimizer state in {session.run_dir / CHECKPOINT_JSON} does not fit the models: {error}"
            ) from None
    if checkpoint.rng_state is not None:
        try:
            session.rng.set_state(checkpoint.rng_state)
        except RuntimeError:
            raise GanError(f"the RNG state in {session.run_dir / CHECKPOINT_JSON} is corrupt") from None
    if tuple(checkpoint.fixed_noise.shape) != (FIXED_NOISE_SIZE, *session.architecture.z_shape):
        raise GanError(
            f"the fixed noise in {session.run_dir / CHECKPOINT_JSON} has shape "
            f"{tuple(checkpoint.fixed_noise.shape)}, not {(FIXED_NOISE_SIZE, *session.architecture.z_shape)}"
        )
    session.fixed_noise = checkpoint.fixed_noise
    session.start_epoch, session.global_step = checkpoint.epoch, checkpoint.step
    if session.start_epoch >= session.config.epochs:
        raise GanError(
            f"{session.run_dir} already completed {session.start_epoch} epochs; pass --epochs N "
            f"with N > {session.start_epoch} to train further"
        )
    rows = read_losses(session.run_dir / "losses.csv")
    session.loss_rows = [r for r in rows if r["epoch"] <= session.start_epoch]


def _write_run_start(session: Session) -> None:
    run_dir, config = session.run_dir, session.config
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {"format": RUN_FORMAT, **config.to_dict(), "device": str(session.device)}
    meta |= {"processes": session.world.size, "train_images": len(session.images), "torch": torch.__version__}
    meta["gemm_choice"] = session.gemm.to_dict()
    write_text(run_dir / "config.json", json.dumps(meta, indent=2))
    if not (run_dir / "real_samples.png").exists():
        # A seeded sample of its own, so the picture never consumes the training RNG.
        order = torch.randperm(len(session.images), generator=torch.Generator().manual_seed(config.seed))
        save_grid(
            normalize(session.images[order[:FIXED_NOISE_SIZE].to(session.device)]),
            run_dir / "real_samples.png",
        )


def _train_epochs(session: Session, console: Console) -> TrainResult:
    config = session.config
    result = TrainResult(
        run_dir=session.run_dir, epochs_completed=session.start_epoch, rank=session.world.rank
    )
    if session.step.compile_skipped:
        console.print(
            f"[dim]{session.architecture.name} has BatchNorm, which the whole-step graph cannot hold; "
            "training with the eager step"
        )
    elif config.compile:
        console.print("[dim]compiling the training step (once per run; --no-compile skips it)")
    with make_progress(console) as progress:
        for epoch in range(session.start_epoch + 1, config.epochs + 1):
            task = progress.add_task(
                f"epoch {epoch}/{config.epochs}", total=session.steps_per_epoch, status=""
            )
            started = time.perf_counter()
            try:
                stats = _run_epoch(session, epoch, functools.partial(_show, progress, task))
            except KeyboardInterrupt:
                result.interrupted = True
                break
            seconds = time.perf_counter() - started
            _end_epoch(session, epoch, stats)
            result.seconds_per_epoch.append(seconds)
            result.last_stats = dict(zip(STAT_NAMES, stats[-1].tolist()))
            result.epochs_completed = epoch
            progress.update(task, status=f"{_format_stats(result.last_stats)}  {seconds:.1f}s")
    return result


def _run_epoch(session: Session, epoch: int, report) -> torch.Tensor:
    """One pass over the data: returns each step's stats, as global means over all ranks."""
    config, world, device = session.config, session.world, session.device
    batch, steps = config.batch_size, session.steps_per_epoch
    shuffled = session.images[torch.randperm(len(session.images), generator=session.rng, device=device)]
    noise = torch.randn(steps, batch, *session.architecture.z_shape, generator=session.rng, device=device)
    stats = torch.empty(steps, len(STAT_NAMES), device=device)
    for i in range(steps):
        real = shuffled[i * batch : (i + 1) * batch]
        mine = world.local_slice(len(real))
        share = (mine.stop - mine.start) / len(real)
        # Each rank's stats are means over its slice; weighted by the share they sum to the global mean.
        stats[i] = session.step(real[mine], noise[i, : len(real)][mine], share=share) * (share * world.size)
        if i % REPORT_EVERY == REPORT_EVERY - 1 or i == steps - 1:
            # The same numbers on every rank, so a NaN stops all of them at the same step.
            latest = dict(zip(STAT_NAMES, world.agree(stats[i]).tolist()))
            _check_finite(latest, epoch, i, session.run_dir)
            report(i + 1, latest)
    return world.agree(stats).cpu()


def _show(progress, task, done: int, latest: dict[str, float]) -> None:
    progress.update(task, completed=done, status=_format_stats(latest))


def _end_epoch(session: Session, epoch: int, stats: torch.Tensor) -> None:
    """Stats into the loss log; on rank 0 the epoch's pictures, FCD and checkpoint."""
    steps = len(stats)
    if not torch.isfinite(stats).all():
        bad = int((~torch.isfinite(stats)).any(dim=1).nonzero()[0])
        _check_finite({"loss": float("nan")}, epoch, bad, session.run_dir)
    session.global_step += steps
    first = session.global_step - steps
    session.loss_rows += [
        {"epoch": epoch, "step": first + i + 1, **dict(zip(STAT_NAMES, row))}
        for i, row in enumerate(stats.tolist())
    ]
    if not session.world.is_main:
        return
    run_dir = session.run_dir
    _write_epoch_artifacts(run_dir, epoch, session.generator, session.fixed_noise, session.loss_rows, steps)
    if session.fcd_tracker is not None and epoch % session.config.eval_every == 0:
        _record_fcd(run_dir, epoch, session.fcd_tracker(session.generator, session.architecture.z_shape))
    save_checkpoint(
        run_dir,
        Checkpoint(
            config=session.config,
            epoch=epoch,
            step=session.global_step,
            generator=session.generator.state_dict(),
            discriminator=session.discriminator.state_dict(),
            opt_g=session.opt_g.state_dict(),
            opt_d=session.opt_d.state_dict(),
            rng_state=session.rng.get_state(),
            fixed_noise=session.fixed_noise,
        ),
    )


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


def _check_finite(stats: dict[str, float], epoch: int, step: int, run_dir: Path):
    if all(math.isfinite(v) for v in stats.values()):
        return
    kept = (
        f"the checkpoint of epoch {epoch - 1} in {run_dir} is kept"
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
