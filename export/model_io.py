"""What each exported model takes and returns, from its signature: the ONNX names, the axes that may
vary, the manifest's description of them, and the keyword arguments an export bakes in."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from gan.export.to_onnx import Axes
from gan.models.inputs import IMAGE, Image, Signature, WithKeywords
from gan.models.outputs import AllOutputs

# What G's output is called; D's is named after what it is ("probability" or "logits").
GENERATED = IMAGE


def input_names(signature: Signature, model: str) -> list[str]:
    return [spec.name for spec in signature.inputs(model)]


def output_name(model: str, discriminator_output: str | None) -> str:
    return GENERATED if model == "generator" else str(discriminator_output)


def free_axes(
    signature: Signature, model: str, outputs: list[tuple[str, torch.Tensor]], batch: int
) -> dict[str, Axes]:
    """Batch may vary on every input and the declared output; so may the height and width of
    images whose size is declared free, and of D's output map when it judges such images (a
    PatchGAN). A further output (attention maps, class logits) has a free batch when its first
    axis was the example's `batch`."""
    axes: dict[str, Axes] = {}
    for spec in signature.inputs(model):
        axes[spec.name] = {0: "batch"}
        if isinstance(spec, Image) and None in spec.shape[1:]:
            axes[spec.name] |= {2: "height", 3: "width"}
    spatial = None in signature.image_shape[1:]
    (output, result), *others = outputs
    if model == "generator":
        axes[output] = {0: "batch"} | ({2: "height", 3: "width"} if spatial else {})
    else:
        axes[output] = {0: "batch"} | (
            {2: "out_height", 3: "out_width"} if spatial and result.dim() == 4 else {}
        )
    for name, tensor in others:
        axes[name] = {0: "batch"} if tensor.dim() and tensor.shape[0] == batch else {}
    return axes


def describe(names: list[str], examples: tuple, outputs: list[tuple[str, torch.Tensor]], axes: dict) -> dict:
    """The manifest's inputs and outputs (the declared one first): names, shapes (free axes by
    their symbol), dtypes."""

    def shape(name: str, tensor: torch.Tensor) -> list:
        return [axes[name].get(i, d) for i, d in enumerate(tensor.shape)]

    def dtype(tensor: torch.Tensor) -> str:
        return str(tensor.dtype).removeprefix("torch.")

    return {
        "inputs": [{"name": n, "shape": shape(n, x), "dtype": dtype(x)} for n, x in zip(names, examples)],
        "outputs": [{"name": n, "shape": shape(n, t), "dtype": dtype(t)} for n, t in outputs],
    }


def baked_arguments(module: nn.Module, n_inputs: int, given: dict) -> dict[str, str]:
    """The keyword arguments an export bakes in: the fixed ones given, and the defaults of every
    other argument of forward (truncation=0.7, return_features=False, ...), as text for the
    manifest and `gan verify`."""
    while isinstance(module, (WithKeywords, AllOutputs)):  # the user's own forward
        module = module.module
    forward = module.forward
    baked = {name: f"{value!r} (given)" for name, value in given.items()}
    for name, param in list(inspect.signature(forward).parameters.items())[n_inputs:]:
        if name not in given and param.default is not inspect.Parameter.empty:
            baked[name] = f"{param.default!r} (default)"
    return baked
