"""Golden I/O: fixed seeded inputs and the eager outputs for them, saved beside the artifacts.

With them, `gan verify` checks the artifacts on another machine or runtime without the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan.errors import GanError
from gan.files.atomic import atomic_path
from gan.models.calls import call
from gan.models.inputs import Signature
from gan.models.outputs import as_tuple, primary

GOLDEN = "golden.npz"


# The batches parity checks: 1, a typical one, and an odd one larger than any traced. Images of
# a free size are checked at several sizes with smaller batches, to keep the golden file small.
PARITY_BATCHES = (1, 64, 257)
SIZED_BATCHES = (1, 8, 17)


def parity_cases(
    signature: Signature, has_discriminator: bool
) -> list[tuple[str, str, tuple[int, int] | None]]:
    """(key, model, size) of every golden case: each model ("generator", and "discriminator" and
    the chain D(G(...)) when there is a D), at every declared size of a fully convolutional G
    ("generator@48x48")."""
    models = ["generator", *(["discriminator", "chain"] if has_discriminator else [])]
    sizes = signature.sizes or (None,)
    return [
        (model if size is None else f"{model}@{size[0]}x{size[1]}", model, size)
        for size in sizes
        for model in models
    ]


@torch.no_grad()
def make_golden(
    signature: Signature,
    models: dict[str, nn.Module],
    inputs: dict[str, tuple[torch.Tensor, ...]],
    fixed: tuple[torch.Tensor, ...],
    architecture: str,
    output_names: dict[str, list[str]] | None = None,
) -> dict[str, torch.Tensor]:
    """Inputs and eager outputs per case (`parity_cases`), and the fixed grid's inputs and images.
    `models` are as exported; a model that returns several outputs (named by `output_names`, the
    declared one first) has its declared one under "KEY.output" and each other under
    "KEY.output.NAME". The chain keeps D's declared output."""
    generator = models["generator"].eval()
    golden = {}
    for name, x in zip(_names(signature, "generator"), fixed):
        golden[f"fixed.{name}"] = x
    golden["fixed_images"] = primary(_run(generator, fixed, signature, "generator", architecture))
    for key, args in inputs.items():
        model = key.split("@")[0]
        for name, x in zip(_names(signature, model), args):
            golden[f"{key}.input.{name}"] = x
        if model == "chain":
            image = primary(_run(generator, args, signature, "generator", architecture))
            d_args = signature.discriminator_args(args, image)
            discriminator = models["discriminator"].eval()
            result = _run(discriminator, d_args, signature, "discriminator", architecture)
            golden[f"{key}.output"] = primary(result)
            continue
        results = as_tuple(_run(models[model].eval(), args, signature, model, architecture))
        golden[f"{key}.output"] = results[0]
        for name, extra in zip((output_names or {}).get(model, [])[1:], results[1:]):
            golden[f"{key}.output.{name}"] = extra
    return golden


def extra_outputs(
    golden: dict[str, torch.Tensor], manifest: dict, key: str
) -> list[tuple[str, torch.Tensor]]:
    """(name, golden tensor) of each output of `key`'s model after its declared one."""
    model = key.split("@")[0]
    if model == "chain":
        return []
    names = [o["name"] for o in manifest["models"][model]["outputs"][1:]]
    return [(name, golden[f"{key}.output.{name}"]) for name in names if f"{key}.output.{name}" in golden]


def golden_inputs(
    golden: dict[str, torch.Tensor], signature: Signature, key: str
) -> tuple[torch.Tensor, ...]:
    """A case's golden inputs, in its model's argument order."""
    return tuple(golden[f"{key}.input.{name}"] for name in _names(signature, key.split("@")[0]))


def fixed_inputs(golden: dict[str, torch.Tensor], signature: Signature) -> tuple[torch.Tensor, ...]:
    return tuple(golden[f"fixed.{name}"] for name in _names(signature, "generator"))


def _names(signature: Signature, model: str) -> list[str]:
    return [spec.name for spec in signature.inputs(model)]


def _run(module: nn.Module, args: tuple, signature: Signature, role: str, architecture: str) -> torch.Tensor:
    return call(module, args, architecture=architecture, role=role, names=_names(signature, role))


def save_golden(path: Path, golden: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: v.detach().cpu().numpy() for k, v in golden.items()})


def load_golden(path: Path, signature: Signature) -> dict[str, torch.Tensor]:
    """The golden arrays, with the keys of exports made before models could take several inputs
    ("generator.input", "fixed_noise") under their input's name."""
    try:
        # allow_pickle=False (numpy's default, said aloud): an object array is refused, never run.
        with np.load(path, allow_pickle=False) as npz:
            golden = {k: torch.from_numpy(npz[k]) for k in npz.files}
    except Exception as error:
        raise GanError(f"{path} is unreadable ({type(error).__name__}); re-run gan export") from None
    for model in ("generator", "discriminator", "chain"):
        if f"{model}.input" in golden:
            golden[f"{model}.input.{_names(signature, model)[0]}"] = golden.pop(f"{model}.input")
    if "fixed_noise" in golden:
        golden[f"fixed.{_names(signature, 'generator')[0]}"] = golden.pop("fixed_noise")
    return golden
