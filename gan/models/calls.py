"""Calling a user's module: an exception raised inside it becomes one line that names the
architecture, the role (generator or discriminator), what the toolkit was doing, the inputs' names
and shapes, the user's file and line, and the original message, instead of a traceback through
the toolkit. `GAN_DEBUG=1` (`gan --debug`) shows the traceback it came from."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from gan.errors import GanError, where_raised


class UserModelError(GanError):
    """A user's generator or discriminator raised; the message says which, on what, and why."""


# Messages that have a known cause in how the model is declared, and what to do about it.
HINTS = (
    (
        ("'tuple' object has no attribute", "'dict' object has no attribute", "'list' object has no"),
        "a model that returns several outputs declares which one counts: "
        "Architecture(..., generator_output=0) or discriminator_score=KEY",
    ),
    (
        ("mat1 and mat2 shapes cannot be multiplied", "shape '[", "size mismatch"),
        "check the Architecture's z_shape, image_shape and inputs against what the model expects",
    ),
)


def hint_for(message: str) -> str:
    """ "; <what to do>" for a message with a known cause, else ""."""
    return next((f"; {hint}" for needles, hint in HINTS if any(n in message for n in needles)), "")


def describe(names: Sequence[str], args: Sequence) -> str:
    """`z (64, 100), labels (64,)`: what a model was called with."""
    return ", ".join(
        f"{name} {tuple(arg.shape)}" if isinstance(arg, torch.Tensor) else f"{name}={arg!r}"
        for name, arg in zip(names, args)
    )


def first_line(error: BaseException, limit: int = 300) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


@contextlib.contextmanager
def model_code(architecture: str, stage: str, hint: str = "") -> Iterator[None]:
    """Runs a block of the toolkit's that drives a user's G and D together (`stage`: "the training
    step"): an exception becomes one line with the user's file and line where it came from."""
    try:
        yield
    except (GanError, KeyboardInterrupt):
        raise
    except Exception as error:
        message = first_line(error)
        raise UserModelError(
            f"architecture {architecture!r}: {stage} raised {type(error).__name__}"
            f"{where_raised(error)}: {message}{hint_for(message) or hint}"
        ) from error


@contextlib.contextmanager
def user_code(
    architecture: str, role: str, names: Sequence[str], args: Sequence, stage: str = ""
) -> Iterator[None]:
    """Runs a block that calls the user's `role` module on `args` (named `names`); `stage` says
    what the toolkit was doing ("tracing it for TorchScript", "the training step")."""
    try:
        yield
    except GanError:
        raise
    except Exception as error:
        message = first_line(error)
        during = f" during {stage}" if stage else ""
        raise UserModelError(
            f"architecture {architecture!r}: its {role} raised {type(error).__name__}{during} on "
            f"{describe(names, args)}{where_raised(error)}: {message}{hint_for(message)}"
        ) from error


def call(module: torch.nn.Module, args: Sequence, *, architecture: str, role: str, names: Sequence[str]):
    """`module(*args)`, with any exception it raises named (see `user_code`)."""
    with user_code(architecture, role, names, args):
        return module(*args)


def check_calls(architecture, generator: torch.nn.Module, discriminator: torch.nn.Module | None) -> None:
    """G and D called once as the toolkit will call them (two seeded samples, D on G's image),
    before any work: a model that raises, or returns several tensors without declaring which one
    counts, is one line now rather than a traceback later. Modes and the global RNG are restored."""
    from gan.models.inputs import as_called
    from gan.models.outputs import OutputError, select

    signature = architecture.signature
    size = signature.sizes[0] if signature.sizes else None
    args = signature.draw("generator", 2, seed=0, size=size)
    names = [spec.name for spec in signature.inputs("generator")]
    with torch.random.fork_rng(devices=[]), torch.no_grad(), _eval(generator, discriminator):
        try:
            with user_code(architecture.name, "generator", names, args):
                device = next(generator.parameters(), torch.empty(0)).device
                args = tuple(x.to(device) for x in args)
                # Undeclared several outputs: one line saying how to declare which one counts.
                image = select(as_called(signature, "generator", generator)(*args), None, "generator")
            if discriminator is not None:
                d_args = signature.discriminator_args(args, image)
                d_names = [spec.name for spec in signature.inputs("discriminator")]
                with user_code(architecture.name, "discriminator", d_names, d_args):
                    select(
                        as_called(signature, "discriminator", discriminator)(*d_args), None, "discriminator"
                    )
        except OutputError as error:
            raise OutputError(f"architecture {architecture.name!r}: {error}") from error


@contextlib.contextmanager
def _eval(*modules):
    modes = [(m, m.training) for m in modules if m is not None]
    try:
        for m, _ in modes:
            m.eval()
        yield
    finally:
        for m, mode in modes:
            m.train(mode)
