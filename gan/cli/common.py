"""What every command shares: the consoles, the one-line treatment of user errors, and the
options that several commands take."""

from __future__ import annotations

import errno
import functools
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gan.errors import EnvironmentMissing, GanError, debugging

# Piped output (CI logs, files) is laid out for 100 columns; the tables are made to fit that.
console = Console(width=None if sys.stdout.isatty() else 100)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 100)


def warn(line: str) -> None:
    """One yellow line on stderr: something the user should know, that does not stop the command."""
    err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)


# Exit codes, the same for every command: 0 done (verify: everything matched), 1 a parity
# mismatch, 2 a usage error, 3 the machine lacks what was asked for (a GPU, onnxruntime-gpu).
MISMATCH, USAGE, ENVIRONMENT = 1, 2, 3


# What the machine, not the input, lacks: a full disk or quota is exit 3 like a missing GPU.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def user_errors(command):
    """A GanError becomes one red line on stderr and exit code 2 (3 for a missing environment),
    and so does a failed write (a full disk: 3); with GAN_DEBUG=1 (`gan --debug`) the traceback
    it came from is shown first. Anything else is a bug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GanError as error:
            show_error(error, str(error))
            raise typer.Exit(ENVIRONMENT if isinstance(error, EnvironmentMissing) else USAGE) from None
        except OSError as error:  # the disk, not the toolkit: no space, no permission, read-only
            show_error(error, os_error_line(error))
            raise typer.Exit(ENVIRONMENT if error.errno in NO_SPACE else USAGE) from None

    return wrapper


def _debug_option() -> bool:
    """Whether this command line says `gan --debug ...`."""
    try:
        from typer._click.globals import get_current_context  # recent typer vendors click
    except ImportError:
        from click import get_current_context

    context = get_current_context(silent=True)
    return bool(context and context.find_root().params.get("debug"))


def os_error_line(error: OSError) -> str:
    """ "no space left on device writing runs/x/export/generator.pt"."""
    what = (error.strerror or type(error).__name__).lower()
    where = f" writing {error.filename}" if error.filename else ""
    return f"{what}{where}; nothing already there was changed"


def show_error(error: BaseException, line: str) -> None:
    if debugging() or _debug_option():
        traceback.print_exception(error, file=sys.stderr)
    # The message is the user's text (paths, "pip install 'x[extra]'"), never markup.
    err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)


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
