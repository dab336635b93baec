"""`gan train`: the seed's GAN trained on whole-dataset tensors, with a run dir a person can read.

The run dir is everything later commands need: config.json, the checkpoint, sample grids per
epoch, progress.gif, losses.csv and losses.png (gan.train.artifacts). Under torchrun
(gan.train.distributed) every rank trains its slice of the same global batch and only rank 0
writes the run dir.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console

from gan.console import make_progress
from gan.data import Dataset, default_data_dir, load_dataset
from gan.data.folder import is_user_data, load_user_data
from gan.data.images import with_channels
from gan.errors import GanError
from gan.files.locking import exclusive
from gan.files.ownership import check_target, prepare_run_dir
from gan.models.architecture import Architecture
from gan.models.calls import check_calls, model_code
from gan.models.inputs import Labels, Noise, as_called
from gan.models.spec import load_architecture
from gan.report.pictures import read_losses
from gan.runs.checkpoint import (
    CHECKPOINT_JSON,
    FIXED_NOISE_SIZE,
    GRID_COLUMNS,
    Checkpoint,
    fixed_grid_labels,
    fixed_grid_size,
    load_checkpoint,
    save_checkpoint,
)
from gan.runs.weights import load_weights
from gan.train.adam import make_optimizer
from gan.train.artifacts import (
    ProgressDrawings,
    format_stats,
    record_fcd,
    write_epoch_record,
    write_run_start,
)
from gan.train.config import TrainConfig
from gan.train.distributed import World, join, leave
from gan.train.gemm_engine import EngineChoice, choose_engine, use_engine
from gan.train.loss import GanLoss, loss_for
from gan.train.step import STAT_NAMES, GanStep, why_untrainable

# One host sync per this many steps, to refresh the progress bar and catch NaNs early.
REPORT_EVERY = 25
# Options that a resumed run takes from its checkpoint; giving another value is refused.
FIXED_ON_RESUME = (
    "arch",
    "dataset",
    "batch_size",
    "lr",
    "beta1",
    "beta2",
    "seed",
    "limit",
    "loss",
    "n_critic",
    "skip_bad_images",
)
# Options a resumed run may change: how long and how it trains, not what it trains.
CHANGEABLE_ON_RESUME = ("epochs", "compile", "gemm", "eval_every")


@dataclass
class TrainResult:
    run_dir: Path
    epochs_completed: int
    seconds_per_epoch: list[float] = field(default_factory=list)  # the steps alone
    # What each epoch's end took besides: its grid, losses, checkpoint, FCD and any drawing.
    artifact_seconds: list[float] = field(default_factory=list)
    last_stats: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    rank: int = 0


@dataclass
class TrainingState:
    """Everything one training run holds between epochs: what it trains, how, and how far it got."""

    config: TrainConfig
    architecture: Architecture
    run_dir: Path
    device: torch.device
    world: World
    images: torch.Tensor
    labels: torch.Tensor | None  # the images' classes, for a conditional GAN
    loss: GanLoss
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    step: GanStep
    rng: torch.Generator
    fixed_noise: torch.Tensor
    fixed_labels: torch.Tensor | None  # a conditional G's grid: one class per row
    gemm: EngineChoice
    start_epoch: int = 0
    global_step: int = 0
    loss_rows: list[dict] = field(default_factory=list)
    fcd_tracker: Callable[[torch.nn.Module], float] | None = None

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
        state = set_up(
            config, run_dir, device, world, data_dir=data_dir, resume=resume, force=force, console=console
        )
        if not world.is_main:
            return _train_epochs(state, console)
        with exclusive(run_dir, "run dir"):
            if not resume:
                prepare_run_dir(run_dir, force)
            write_run_start(run_dir, _run_meta(state), state.images, FIXED_NOISE_SIZE, state.config.seed)
            return _train_epochs(state, console)
    finally:
        leave()


def set_up(
    config: TrainConfig,
    run_dir: Path,
    device: torch.device,
    world: World,
    *,
    data_dir: Path | None,
    resume: bool,
    force: bool,
    console: Console,
) -> TrainingState:
    """Checks every input before anything is written, then builds models, optimizers and step.
    With `run_epoch`, the pieces of `train` that gan.bench.epoch_speed times on their own."""
    checkpoint = load_checkpoint(run_dir) if resume else None
    if checkpoint is not None:
        config = _resumed_config(checkpoint.config, config)
    elif world.is_main:
        check_target(run_dir, force, "run dir")
    architecture, ref = load_architecture(config.arch)
    loss = loss_for(architecture.loss, architecture.discriminator_output, config.loss, config.n_critic)
    config = config.replace(arch=ref.spec, loss=loss.kind, n_critic=loss.n_critic)
    world.check_batch(config.batch_size)
    dataset = _load_data(config, architecture, data_dir, world, console)
    images, labels = _training_data(architecture, dataset, config)
    generator, discriminator = architecture.build(config.seed)
    generator.to(device).train()
    discriminator.to(device).train()
    check_calls(architecture, generator, discriminator)
    resumed_on = checkpoint.config.gemm if checkpoint is not None else None
    gemm = _choose_gemm(
        config,
        architecture,
        generator,
        discriminator,
        device=device,
        world=world,
        console=console,
        resumed_on=resumed_on,
    )
    config = config.replace(gemm=gemm.engine)
    state = _fresh_state(
        config,
        architecture,
        generator,
        discriminator,
        (images, labels),
        loss,
        run_dir=run_dir,
        world=world,
        gemm=gemm,
    )
    if checkpoint is not None:
        _restore(state, checkpoint)
    state.fixed_noise = state.fixed_noise.to(device)
    if config.eval_every and world.is_main:
        state.fcd_tracker = _fcd_tracker(dataset, config.dataset, data_dir, device, architecture, console)
    return state


def _training_data(
    architecture: Architecture, dataset: Dataset, config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images this run trains on, as (N, C, H, W) uint8 (the layout the models take, and so
    the compiled step is the same graph `gan bench` measures), and their labels for a
    conditional GAN."""
    images = with_channels(dataset.train_images[: config.limit])
    check_trainable(architecture, tuple(images.shape[1:]), dataset.name, dataset.classes)
    if config.batch_size > len(images):
        raise GanError(f"--batch-size {config.batch_size} is larger than the {len(images)} training images")
    conditional = any(isinstance(spec, Labels) for spec in architecture.generator_inputs)
    return images, dataset.train_labels[: config.limit] if conditional else None


def _fresh_state(
    config: TrainConfig,
    architecture: Architecture,
    generator: torch.nn.Module,
    discriminator: torch.nn.Module,
    data: tuple[torch.Tensor, torch.Tensor | None],
    loss: GanLoss,
    *,
    run_dir: Path,
    world: World,
    gemm: EngineChoice,
) -> TrainingState:
    """Optimizers, the step and the RNG of epoch 0, around models already on their device."""
    device = next(generator.parameters()).device
    betas = (config.beta1, config.beta2)
    opt_g = make_optimizer(generator, config.lr, betas)
    opt_d = make_optimizer(discriminator, config.lr, betas)
    step = GanStep(
        # With G's fixed keyword arguments, and G's image and D's score alone of several outputs.
        as_called(architecture.signature, "generator", generator),
        as_called(architecture.signature, "discriminator", discriminator),
        opt_g,
        opt_d,
        loss=loss,
        compile=config.compile,
        grad_sync=world.weighted_sum if world.distributed else None,
        signature=architecture.signature,
    )
    images, labels = data
    return TrainingState(
        config=config,
        architecture=architecture,
        run_dir=run_dir,
        device=device,
        world=world,
        images=images.to(device),
        labels=None if labels is None else labels.to(device),
        loss=loss,
        generator=generator,
        discriminator=discriminator,
        opt_g=opt_g,
        opt_d=opt_d,
        step=step,
        # The same seed on every rank: all draw the same global batch and noise, and take a slice.
        rng=torch.Generator(device=device).manual_seed(config.seed),
        fixed_noise=architecture.noise(fixed_grid_size(architecture.signature), config.seed),
        fixed_labels=fixed_grid_labels(architecture.signature),
        gemm=gemm,
    )


def _fcd_tracker(dataset: Dataset, name: str, data_dir, device, architecture: Architecture, console: Console):
    from gan.quality.evaluation import FcdTracker  # loads torchmetrics: only when asked for

    if is_user_data(name):
        raise GanError(
            "--eval-every measures FCD with the pinned classifier of fashion-mnist or mnist; "
            f"{name} has none. Drop --eval-every, and measure with gan eval --classifier afterwards"
        )
    tracker = FcdTracker(
        dataset, data_dir or default_data_dir(), device, log=lambda m: console.print(f"[dim]{m}")
    )
    return functools.partial(tracker, signature=architecture.signature)


def _choose_gemm(
    config: TrainConfig,
    architecture: Architecture,
    generator: torch.nn.Module,
    discriminator: torch.nn.Module,
    *,
    device: torch.device,
    world: World,
    console: Console,
    resumed_on: str | None,
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
                architecture.signature,
                local_batch,
                compiled=config.compile,
                resumed_on=resumed_on,
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
    return saved.replace(**{name: getattr(given, name) for name in CHANGEABLE_ON_RESUME})


def _load_data(
    config: TrainConfig, architecture: Architecture, data_dir, world: World, console: Console
) -> Dataset:
    """A bundled dataset, or a user's images fitted to the architecture's image shape. Only rank
    0 may build the cache; the others load it after the barrier."""
    log = lambda m: console.print(f"[yellow]{m}")  # noqa: E731

    def load(progress=None) -> Dataset:
        if not is_user_data(config.dataset):
            return load_dataset(config.dataset, data_dir, log=log)
        if None in architecture.image_shape:
            raise GanError(
                f"architecture {architecture.name!r} makes images of any size; gan train needs a fixed "
                "(C, H, W) to fit the images to"
            )
        return load_user_data(
            Path(config.dataset),
            architecture.image_shape,
            Path(data_dir) if data_dir is not None else default_data_dir(),
            limit=config.limit,
            seed=config.seed,
            skip_bad=config.skip_bad_images,
            progress=progress,
            log=log,
        )

    if world.is_main:
        with make_progress(console) as progress:
            dataset = load(progress)
        world.barrier()
        return dataset
    world.barrier()
    return load()


def _restore(state: TrainingState, checkpoint: Checkpoint) -> None:
    where = state.run_dir / CHECKPOINT_JSON
    load_weights(state.generator, checkpoint.generator, "generator")
    if checkpoint.discriminator is not None:
        load_weights(state.discriminator, checkpoint.discriminator, "discriminator")
    # An imported run has weights but no optimizer state or RNG yet: those start fresh.
    if checkpoint.opt_g is not None and checkpoint.opt_d is not None:
        try:
            state.opt_g.load_state_dict(checkpoint.opt_g)
            state.opt_d.load_state_dict(checkpoint.opt_d)
        except (ValueError, KeyError, TypeError, RuntimeError) as error:
            raise GanError(f"the optimizer state in {where} does not fit the models: {error}") from None
    if checkpoint.rng_state is not None:
        try:
            state.rng.set_state(checkpoint.rng_state)
        except RuntimeError:
            raise GanError(f"the RNG state in {where} is corrupt") from None
    expected = (fixed_grid_size(state.architecture.signature), *state.architecture.z_shape)
    if tuple(checkpoint.fixed_noise.shape) != expected:
        raise GanError(
            f"the fixed noise in {where} has shape {tuple(checkpoint.fixed_noise.shape)}, not {expected}"
        )
    state.fixed_noise = checkpoint.fixed_noise
    state.start_epoch, state.global_step = checkpoint.epoch, checkpoint.step
    if state.start_epoch >= state.config.epochs:
        raise GanError(
            f"{state.run_dir} already completed {state.start_epoch} epochs; pass --epochs N "
            f"with N > {state.start_epoch} to train further"
        )
    rows = read_losses(state.run_dir / "losses.csv")
    state.loss_rows = [r for r in rows if r["epoch"] <= state.start_epoch]


def _run_meta(state: TrainingState) -> dict:
    """config.json: the run's config plus where and how it ran."""
    return {
        **state.config.to_dict(),
        "device": str(state.device),
        "processes": state.world.size,
        "train_images": len(state.images),
        "torch": torch.__version__,
        "gemm_choice": state.gemm.to_dict(),
    }


def _train_epochs(state: TrainingState, console: Console) -> TrainResult:
    config = state.config
    result = TrainResult(run_dir=state.run_dir, epochs_completed=state.start_epoch, rank=state.world.rank)
    if state.step.eager_reason is not None:
        console.print(
            f"[dim]{state.architecture.name} {state.step.eager_reason}; training with the eager step"
        )
    elif config.compile:
        console.print("[dim]compiling the training step (once per run; --no-compile skips it)")
    drawings = ProgressDrawings(state.run_dir, state.steps_per_epoch)
    try:
        with make_progress(console) as progress:
            for epoch in range(state.start_epoch + 1, config.epochs + 1):
                task = progress.add_task(
                    f"epoch {epoch}/{config.epochs}", total=state.steps_per_epoch, status=""
                )
                started = time.perf_counter()
                try:
                    with model_code(state.architecture.name, "the training step"):
                        stats = run_epoch(state, epoch, functools.partial(_show, progress, task))
                except KeyboardInterrupt:
                    result.interrupted = True
                    break
                seconds = time.perf_counter() - started
                if config.compile and epoch == state.start_epoch + 1 and state.step.eager_reason:
                    console.print(f"[dim]the step {state.step.eager_reason}; trained with the eager step")
                _end_epoch(state, epoch, stats)
                if state.world.is_main:
                    drawings.after_epoch(state.loss_rows, seconds)
                result.artifact_seconds.append(time.perf_counter() - started - seconds)
                result.seconds_per_epoch.append(seconds)
                result.last_stats = dict(zip(STAT_NAMES, stats[-1].tolist()))
                result.epochs_completed = epoch
                progress.update(task, status=f"{format_stats(result.last_stats)}  {seconds:.1f}s")
    finally:
        # Interrupted, diverged or done: the drawings show every completed epoch.
        if state.world.is_main:
            drawings.finish(state.loss_rows)
    return result


def run_epoch(state: TrainingState, epoch: int, report) -> torch.Tensor:
    """One pass over the data: returns each step's stats, as global means over all ranks.
    `report(done, latest)` is called every REPORT_EVERY steps (the progress bar)."""
    config, world, device = state.config, state.world, state.device
    batch, steps = config.batch_size, state.steps_per_epoch
    # Each step gathers its batch through the permutation: no shuffled copy of the dataset is made.
    order = torch.randperm(len(state.images), generator=state.rng, device=device)
    noise = torch.randn(steps, batch, *state.architecture.z_shape, generator=state.rng, device=device)
    # WGAN-GP's per-sample weights of real in the penalty's mixed images, from the run's RNG too.
    mix = torch.rand(steps, batch, generator=state.rng, device=device) if state.loss.penalized else None
    stats = torch.empty(steps, len(STAT_NAMES), device=device)
    # Every batch but an epoch's last is full: its slice and share are worked out once, not per step.
    full_slice = world.local_slice(batch)
    for i in range(steps):
        rows = order[i * batch : (i + 1) * batch]
        mine = full_slice if len(rows) == batch else world.local_slice(len(rows))
        share = (mine.stop - mine.start) / len(rows)
        if world.distributed:
            rows = rows[mine]
        # index_select, not images[rows]: 10 us for 64 MNIST rows where indexing takes 60.
        stats[i] = state.step(
            state.images.index_select(0, rows),
            noise[i, mine],
            None if state.labels is None else state.labels.index_select(0, rows),
            share=share,
            mix=None if mix is None else mix[i, mine],
            update_g=(state.global_step + i + 1) % state.loss.n_critic == 0,
        )
        if world.distributed:
            # Each rank's stats are means over its slice; weighted by its share they sum to the global mean.
            stats[i] *= share * world.size
        if i % REPORT_EVERY == REPORT_EVERY - 1 or i == steps - 1:
            # The same numbers on every rank, so a NaN stops all of them at the same step.
            latest = dict(zip(STAT_NAMES, world.agree(stats[i]).tolist()))
            _check_finite(latest, epoch, i, state.run_dir)
            report(i + 1, latest)
    return world.agree(stats).cpu()


def _show(progress, task, done: int, latest: dict[str, float]) -> None:
    progress.update(task, completed=done, status=format_stats(latest))


def _end_epoch(state: TrainingState, epoch: int, stats: torch.Tensor) -> None:
    """Stats into the loss log; on rank 0 the epoch's pictures, FCD and checkpoint."""
    steps = len(stats)
    if not torch.isfinite(stats).all():
        bad = int((~torch.isfinite(stats)).any(dim=1).nonzero()[0])
        _check_finite({"loss": float("nan")}, epoch, bad, state.run_dir)
    state.global_step += steps
    first = state.global_step - steps
    state.loss_rows += [
        {"epoch": epoch, "step": first + i + 1, **dict(zip(STAT_NAMES, row))}
        for i, row in enumerate(stats.tolist())
    ]
    if not state.world.is_main:
        return
    generator = as_called(state.architecture.signature, "generator", state.generator)
    write_epoch_record(
        state.run_dir,
        epoch,
        generator,
        fixed_inputs(state.architecture, state.fixed_noise, state.fixed_labels),
        state.loss_rows,
        nrow=None if state.fixed_labels is None else GRID_COLUMNS,
    )
    if state.fcd_tracker is not None and epoch % state.config.eval_every == 0:
        record_fcd(state.run_dir, epoch, state.fcd_tracker(generator))
    save_checkpoint(
        state.run_dir,
        Checkpoint(
            config=state.config,
            epoch=epoch,
            step=state.global_step,
            generator=state.generator.state_dict(),
            discriminator=state.discriminator.state_dict(),
            opt_g=state.opt_g.state_dict(),
            opt_d=state.opt_d.state_dict(),
            rng_state=state.rng.get_state(),
            fixed_noise=state.fixed_noise,
        ),
    )


def fixed_inputs(architecture: Architecture, noise: torch.Tensor, labels: torch.Tensor | None) -> tuple:
    """G's arguments for the fixed grid, in G's order: the noise, and a conditional G's labels."""
    by_kind = {Noise: noise, Labels: None if labels is None else labels.to(noise.device)}
    return tuple(by_kind[type(spec)] for spec in architecture.generator_inputs)


def check_trainable(
    architecture: Architecture, data_shape: tuple[int, ...], dataset: str, classes: tuple[str, ...]
) -> None:
    """Training needs a discriminator, G on noise (and the class label), D on the image (and the
    label), and the data's image shape and classes."""
    if not architecture.has_discriminator:
        raise GanError(
            f"architecture {architecture.name!r} has no discriminator, so it cannot be trained; "
            "import its weights with `gan import` to export, verify, sample and bench it"
        )
    if (why := why_untrainable(architecture.signature)) is not None:
        raise GanError(
            f"architecture {architecture.name!r}: {why}; train it in your own loop and bring its "
            "weights with `gan import`"
        )
    inputs = architecture.generator_inputs
    labels = next((spec for spec in inputs if isinstance(spec, Labels)), None)
    if labels is not None and len(classes) < 2:
        raise GanError(
            f"architecture {architecture.name!r} is conditional, but {dataset} has no classes: put each "
            "class's images in a subfolder of its own"
        )
    if labels is not None and labels.num_classes != len(classes):
        raise GanError(
            f"architecture {architecture.name!r} takes {labels.num_classes} classes, but {dataset} has "
            f"{len(classes)} ({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})"
        )
    if tuple(architecture.image_shape) != tuple(data_shape):
        raise GanError(
            f"architecture {architecture.name!r} makes images of shape {tuple(architecture.image_shape)}, "
            f"but {dataset} has {tuple(data_shape)}; train it on your own images with --data PATH"
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
