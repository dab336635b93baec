"""How the toolkit talks on a terminal: one look for every progress bar, and quiet about log
lines that are expected on this kind of machine and would only alarm users."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def make_progress(console: Console | None = None, transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=transient,
    )


def silence_known_noise() -> None:
    # A CUDA build of torch on a machine without a GPU logs "No CUDA runtime is found" on every
    # torch.compile; the CPU path it takes is the right one.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
