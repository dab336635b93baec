"""ONNX export with a dynamic batch axis and named inputs/outputs, validated by onnx itself."""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from gan.errors import GanError
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


def export_onnx(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_name: str,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
) -> None:
    """`dynamo` is torch.export-based (torch's default, needs onnxscript); `torchscript` is legacy."""
    check_opset(exporter, opset)
    module = module.eval()
    if exporter == "dynamo":
        # dynamic_shapes is keyed by forward's parameter name, whatever the ONNX input is called.
        (arg,) = inspect.signature(module.forward).parameters
        axes = {"dynamic_shapes": {arg: {0: torch.export.Dim("batch")}}}
    else:
        axes = {"dynamic_axes": {input_name: {0: "batch"}, output_name: {0: "batch"}}}
    # The exporters narrate every pass on stdout and warn that the other one exists; neither helps.
    with (
        atomic_path(path) as tmp,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
        try:
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=[input_name],
                output_names=[output_name],
                opset_version=opset,
                dynamo=exporter == "dynamo",
                external_data=False,  # one self-contained file per model
                **axes,
            )
        except Exception as error:
            raise GanError(
                f"ONNX export ({exporter}, opset {opset}) failed: {str(error).splitlines()[0]}"
            ) from None
    validate_onnx(path)


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
