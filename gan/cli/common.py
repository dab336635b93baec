"""What every command shares: the consoles, the one-line treatment of user errors, and the
options that several commands take."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gan.errors import EnvironmentMissing, GanError

# Piped output (CI logs, files) is laid out for 100 columns; the tables are made to fit that.
console = Console(width=None if sys.stdout.isatty() else 100)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 100)


def warn(line: str) -> None:
    """One yellow line on stderr: something the user should know, that does not stop the command."""
    err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)


# Exit codes, the same for every command: 0 done (verify: everything matched), 1 a parity
# mismatch, 2 a usage error, 3 the machine lacks what was asked for (a GPU, onnxruntime-gpu).
MISMATCH, USAGE, ENVIRONMENT = 1, 2, 3


def user_errors(command):
    """A GanError becomes one red line on stderr and exit code 2 (3 for a missing environment);
    anything else is a bug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GanError as error:
            # The message is the user's text (paths, "pip install 'x[extra]'"), never markup.
            err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(ENVIRONMENT if isinstance(error, EnvironmentMissing) else USAGE) from None

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
Untrusted = Annotated[
    bool,
    typer.Option(
        help="The export dir came from someone else: load data only (ONNX, JSON, npz), never "
        "TorchScript, which is code."
    ),
]
Strict = Annotated[
    bool, typer.Option(help="Refuse an export that failed parity when it was made (otherwise: a warning).")
]
ARCH_HELP = (
    "mlp, dcgan, cgan (class-conditional MLP), an installed architecture (entry point "
    "gan_toolkit.architectures), or your own: path/to/file.py:NAME or package.module:NAME."
)


def csv_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def int_list(value: str, option: str) -> list[int]:
    try:
        return [int(item) for item in csv_list(value)]
    except ValueError:
        raise GanError(f"{option} takes whole numbers separated by commas, got {value!r}") from None
