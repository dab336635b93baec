"""Calling a user's module: an exception raised inside it becomes one line that names the
architecture, the role (generator or discriminator), the inputs' names and shapes and the original
message, instead of a traceback through the toolkit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from gan.errors import GanError


class UserModelError(GanError):
    """A user's generator or discriminator raised; the message says which, on what, and why."""


def describe(names: Sequence[str], args: Sequence) -> str:
    """`z (64, 100), labels (64,)`: what a model was called with."""
    return ", ".join(
        f"{name} {tuple(arg.shape)}" if isinstance(arg, torch.Tensor) else f"{name}={arg!r}"
        for name, arg in zip(names, args)
    )


@contextlib.contextmanager
def user_code(architecture: str, role: str, names: Sequence[str], args: Sequence) -> Iterator[None]:
    """Runs a block that calls the user's `role` module on `args` (named `names`)."""
    try:
        yield
    except GanError:
        raise
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0][:300]
        raise UserModelError(
            f"architecture {architecture!r}: its {role} raised {type(error).__name__} on "
            f"{describe(names, args)}: {first}"
        ) from None


def call(module: torch.nn.Module, args: Sequence, *, architecture: str, role: str, names: Sequence[str]):
    """`module(*args)`, with any exception it raises named (see `user_code`)."""
    with user_code(architecture, role, names, args):
        return module(*args)
