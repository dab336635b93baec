"""ONNX export with a dynamic batch axis and named inputs/outputs, validated by onnx itself."""

from __future__ import annotations

import contextlib
import errno
import inspect
import io
import re
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from gan.errors import EnvironmentMissing, GanError
from gan.files.atomic import atomic_path

EXPORTERS = ("dynamo", "torchscript")
DEFAULT_OPSET = 18
# The opsets each exporter writes (torch 2.14): torch.export-based 18 to 25 (the newest that
# onnxscript and onnxruntime 1.31 were seen to agree on here), legacy 7 to 20.
OPSETS = {"dynamo": range(18, 26), "torchscript": range(7, 21)}


def check_opset(exporter: str, opset: int) -> None:
    if exporter not in EXPORTERS:
        raise GanError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    supported = OPSETS[exporter]
    if opset not in supported:
        raise GanError(
            f"--opset {opset} cannot be written by the {exporter} exporter; "
            f"choose {supported.start} to {supported.stop - 1}"
        )


# The symbols of the axes that may vary: batch on every input and output, and the height and
# width of a fully convolutional G's images.
Axes = dict[int, str]


def export_onnx(
    module: nn.Module,
    examples: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    *,
    free_axes: dict[str, Axes],
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
) -> None:
    """`dynamo` is torch.export-based (torch's default, needs onnxscript); `torchscript` is legacy.
    `free_axes` names, per input and output, the axes that may vary; every other axis is fixed, and
    the file says so (the legacy exporter would otherwise label some of them "batch"). A module
    that returns a tuple gets one named output per tensor."""
    check_opset(exporter, opset)
    module = module.eval()
    axes = _free_axes_argument(module, exporter, free_axes, list(input_names), list(output_names))
    # The exporters narrate every pass on stdout (and a failing graph on stderr) and warn that the
    # other one exists; none of it helps: a failure is reported in one line below.
    with (
        atomic_path(path) as tmp,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        # TracerWarnings were shown once by the TorchScript export, and parity judges what they warn of.
        warnings.simplefilter(
            "ignore", (DeprecationWarning, FutureWarning, UserWarning, torch.jit.TracerWarning)
        )
        try:
            torch.onnx.export(
                module,
                tuple(examples),
                str(tmp),
                input_names=list(input_names),
                output_names=list(output_names),
                opset_version=opset,
                dynamo=exporter == "dynamo",
                external_data=False,  # one self-contained file per model
                **axes,
            )
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise EnvironmentMissing(f"no space left on the device writing {path}") from None
            raise GanError(_export_failure(exporter, opset, error)) from None
        except Exception as error:
            raise GanError(_export_failure(exporter, opset, error)) from None
        with torch.no_grad():
            results = module(*examples)
        results = (results,) if isinstance(results, torch.Tensor) else results
        shapes = {name: tuple(x.shape) for name, x in zip(input_names, examples)} | {
            name: tuple(t.shape) for name, t in zip(output_names, results)
        }
        _name_axes(tmp, shapes, free_axes)
    validate_onnx(path)


def _free_axes_argument(
    module: nn.Module, exporter: str, free_axes: dict[str, Axes], inputs: list[str], outputs: list[str]
) -> dict:
    """The free axes in each exporter's own terms: torch.export Dims for the inputs (one per
    symbol, shared by every input with that axis), or the legacy exporter's dynamic_axes."""
    if exporter != "dynamo":
        return {
            "dynamic_axes": {name: dict(free_axes[name]) for name in [*inputs, *outputs] if free_axes[name]}
        }
    return {"dynamic_shapes": dynamic_shapes(module, free_axes, inputs)}


def dynamic_shapes(module: nn.Module, free_axes: dict[str, Axes], inputs: list[str]) -> tuple | dict:
    """torch.export's dynamic_shapes for `inputs`: one Dim per symbol, shared by every input with
    that axis (the ONNX exporter, the ExportedProgram and AOTInductor use the same)."""
    dims = {symbol: torch.export.Dim(symbol) for axes in free_axes.values() for symbol in axes.values()}
    shapes = tuple({axis: dims[symbol] for axis, symbol in free_axes[name].items()} for name in inputs)
    return _by_parameter(module, shapes)


def _by_parameter(module: nn.Module, shapes: tuple) -> tuple | dict:
    """torch.export matches dynamic shapes to forward's parameters: positional ones take one each,
    a `*args` (as G with fixed keyword arguments has) takes them all."""
    parameters = list(inspect.signature(module.forward).parameters.values())
    varargs = next((p.name for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    return {varargs: shapes} if varargs else shapes


def _export_failure(exporter: str, opset: int, error: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()  # the exporter colours its text
    # The dynamo exporter's first line is generic ("Failed to convert ... Next steps:"); its
    # summary names the operator: "<class '...DispatchError'>: No ONNX function found for ...".
    summary = re.search(r"## Exception summary\s+<class '(?:[\w.]+\.)?(\w+)'>: ([^\n]+)", text)
    first = f"{summary[1]}: {summary[2]}" if summary else (text.splitlines() or [type(error).__name__])[0]
    first = first[:300]
    hint = ""
    if exporter == "torchscript" and "aten::" in first:
        hint = "; the dynamo exporter (--exporter dynamo, the default) supports more operators"
    return f"ONNX export ({exporter}, opset {opset}) failed: {first}{hint}"


def _name_axes(path: Path, shapes: dict[str, tuple[int, ...]], free_axes: dict[str, Axes]) -> None:
    """Every graph input and output axis as declared: a free one named by its symbol, a fixed one
    with its size."""
    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        if value.name not in shapes:
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis in free_axes.get(value.name, {}):
                dim.dim_param = free_axes[value.name][axis]
            else:
                dim.dim_value = shapes[value.name][axis]
    onnx.save(model, str(path))


def validate_onnx(path: Path) -> onnx.ModelProto:
    """onnx.checker (full check, which runs strict shape inference) plus shape inference."""
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as error:
        raise GanError(f"{path} fails ONNX validation: {str(error).splitlines()[0]}") from None


def onnx_io(model: onnx.ModelProto) -> dict[str, list[dict]]:
    """Input/output names and shapes as the file declares them (symbolic dims as strings)."""

    def describe(values):
        return [
            {
                "name": v.name,
                "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
            }
            for v in values
        ]

    return {"inputs": describe(model.graph.input), "outputs": describe(model.graph.output)}
