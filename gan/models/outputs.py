"""Models that return more than one tensor: G's (image, attention maps), D's {"adv": score, "cls":
class logits}, StyleGAN's (image, latents). The Architecture says which output is G's image
(`generator_output`) and which is D's score (`discriminator_score`): an index or a key.

The toolkit trains, samples and chains with that output alone (`SelectedOutput`), and exports
every output, the declared one first (`AllOutputs`), so parity checks them all. A model that
returns several tensors without saying which one counts is stopped in one line that says how to
declare it.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.utils._pytree import keystr, tree_flatten_with_path

from gan.errors import GanError

Selector = int | str | None
# The Architecture's field that declares each role's output.
DECLARED_BY = {"generator": "generator_output", "discriminator": "discriminator_score"}


class OutputError(GanError):
    """A model's outputs do not fit what its Architecture declares (GanError at the boundary)."""


def leaves(result) -> list[tuple[str, torch.Tensor]]:
    """(path, tensor) of every tensor in a model's output, in order: "" for a tensor, "[1]" or
    "['cls']" inside a tuple, list or dict (nested ones too); other values are left out."""
    if isinstance(result, torch.Tensor):
        return [("", result)]
    flat, _ = tree_flatten_with_path(result)
    return [(keystr(path), leaf) for path, leaf in flat if isinstance(leaf, torch.Tensor)]


def describe_output(result) -> str:
    """`a tuple of 2 tensors: [0] (2, 1, 28, 28), [1] (2, 32)`."""
    found = leaves(result)
    shapes = ", ".join(f"{path} {tuple(t.shape)}" for path, t in found)
    return f"a {type(result).__name__} of {len(found)} tensor(s): {shapes}"


def select(result, selector: Selector, role: str) -> torch.Tensor:
    """The declared output of `result`: the tensor itself when the model returns one."""
    if selector is None:
        if isinstance(result, torch.Tensor):
            return result
        field = DECLARED_BY[role]
        example = repr(_first_key(result))
        raise OutputError(
            f"its {role} returns {describe_output(result)}, not one tensor; say which one is its "
            f"{'image' if role == 'generator' else 'score'}: Architecture(..., {field}={example})"
        )
    try:
        chosen = result[selector]
    except (KeyError, IndexError, TypeError):
        raise OutputError(
            f"its {role} has no output {selector!r} ({DECLARED_BY[role]}); "
            f"it returns {describe_output(result)}"
        ) from None
    if not isinstance(chosen, torch.Tensor):
        raise OutputError(
            f"its {role}'s output {selector!r} ({DECLARED_BY[role]}) is a "
            f"{type(chosen).__name__}, not a tensor"
        )
    return chosen


def _first_key(result):
    if isinstance(result, dict):
        return next(iter(result), 0)
    return 0


def others(result, chosen: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Every output but the declared one, with its path."""
    return [(path, t) for path, t in leaves(result) if t is not chosen]


def output_names(result, selector: Selector, role: str, primary: str) -> list[str]:
    """The exported outputs' names: `primary` ("image", "probability", ...) for the declared one,
    then each other output named by its key or index ("cls", "output_1")."""
    chosen = select(result, selector, role)
    names = [primary]
    for path, _ in others(result, chosen):
        name = "_".join(re.findall(r"\w+", path)) or "output"
        name = f"output_{name}" if name[0].isdigit() else name
        while name in names:
            name += "_"
        names.append(name)
    return names


class SelectedOutput(nn.Module):
    """The module as the toolkit trains, samples and chains it: its declared output alone."""

    def __init__(self, module: nn.Module, selector: Selector, role: str):
        super().__init__()
        self.module, self.selector, self.role = module, selector, role

    def forward(self, *args):
        return select(self.module(*args), self.selector, self.role)


class AllOutputs(nn.Module):
    """The module as it is exported: a flat tuple of its tensors, the declared output first."""

    def __init__(self, module: nn.Module, selector: Selector, role: str):
        super().__init__()
        self.module, self.selector, self.role = module, selector, role

    def forward(self, *args):
        result = self.module(*args)
        chosen = select(result, self.selector, self.role)
        return (chosen, *(t for _, t in others(result, chosen)))

    def names(self, args, primary: str) -> list[str]:
        """The names of what forward(*args) returns, in its order (see `output_names`)."""
        return output_names(self.module(*args), self.selector, self.role, primary)


def named_outputs(module: nn.Module, args, result, role: str, primary: str) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of each output of `result = module(*args)`, the declared one first; a model
    that returns several tensors without declaring which counts raises OutputError."""
    if isinstance(module, AllOutputs):
        return list(zip(module.names(args, primary), result))
    return [(primary, select(result, None, role))]


def primary(result) -> torch.Tensor:
    """The declared output of what a backend returned: the tensor, or the first of a tuple."""
    return result if isinstance(result, torch.Tensor) else result[0]


def as_tuple(result) -> tuple[torch.Tensor, ...]:
    return (result,) if isinstance(result, torch.Tensor) else tuple(result)
