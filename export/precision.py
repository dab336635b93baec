"""Precisions: the names every command, manifest, bench row and eval result uses, the parity budget
each one is held to, and how an export's reduced-precision ONNX variants are built with the
ecosystem's tools (onnxruntime.quantization for int8, onnxconverter-common for fp16).

A variant is an extra ONNX file per model beside the fp32 one ("generator.int8-static.onnx"). The
fp32 file and its parity rule are never changed by a variant: a variant that cannot be built is
skipped with its reason, and one that misses its own budget fails only its own comparisons.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import onnx

from gan.errors import GanError
from gan.export.calibration import Calibration

FP32 = "fp32"
# Files an export can add, in the order they are built and listed.
FILE_PRECISIONS = ("int8-dynamic", "int8-static", "fp16")
# What a runtime can run without a file of its own (autocast, OpenVINO's inference hint).
RUNTIME_PRECISIONS = ("bf16",)
PRECISIONS = (FP32, *FILE_PRECISIONS, *RUNTIME_PRECISIONS)


@dataclass(frozen=True)
class Budget:
    """How far a precision's outputs may stray from eager fp32's, in Polygraphy's terms: an
    error statistic held to atol (or rtol). int8 moves every value a little, so its budget holds
    the mean error, not the worst element; what that costs in image quality is measured by
    `gan eval --precision`, not assumed from these numbers."""

    error_stat: str
    atol: float
    rtol: float

    def to_dict(self) -> dict:
        return asdict(self)


# fp16 keeps 10 mantissa bits (about 1e-3 relative), and its inputs and outputs stay fp32.
# int8 steps are about 1/127 of a tensor's range; 0.05 mean abs on a [-1, 1] image is 2.5% of it.
BUDGETS = {
    "fp16": Budget("elemwise", atol=1e-2, rtol=1e-2),
    "bf16": Budget("mean", atol=2e-2, rtol=0.0),
    "int8-dynamic": Budget("mean", atol=5e-2, rtol=0.0),
    "int8-static": Budget("mean", atol=5e-2, rtol=0.0),
}


def parse_precisions(text: str, allowed: tuple[str, ...] = (FP32, *FILE_PRECISIONS)) -> tuple[str, ...]:
    """ "fp32,int8-dynamic" -> ("fp32", "int8-dynamic"): fp32 always first (it is the export), the
    rest in the order given, each once. An unknown name is one GanError naming the choices."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in allowed:
            raise GanError(f"unknown precision {name!r}; choose from {', '.join(allowed)}")
    return tuple(dict.fromkeys([FP32, *names]))


def variant_file(model: str, precision: str) -> str:
    return f"{model}.{precision}.onnx"


class VariantSkipped(Exception):
    """This variant cannot be built for this model; the message says why."""


def build_variant(precision: str, source: Path, target: Path, calibration: Calibration | None = None) -> dict:
    """Writes `precision`'s variant of the fp32 ONNX `source` to `target` and returns how it was
    made (for the manifest). Raises VariantSkipped with the tool's reason when it cannot be built."""
    builders = {"int8-dynamic": _int8_dynamic, "int8-static": _int8_static, "fp16": _fp16}
    with tempfile.TemporaryDirectory() as scratch:
        try:
            made_by = builders[precision](source, target, Path(scratch), calibration)
            # The variant must load and run in the runtime it is made for, or it is not a variant.
            _check_loads(target)
        except VariantSkipped:
            raise
        except Exception as error:  # the tools fail on ops they do not cover; that is a reason
            target.unlink(missing_ok=True)
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            raise VariantSkipped(f"{type(error).__name__}: {reason}") from None
    return made_by


def _prepared(source: Path, scratch: Path) -> Path:
    """The fp32 model as onnxruntime.quantization wants it: the exporter's value_info dropped
    (the dynamo exporter records initializer shapes there, which go stale when the quantizer
    transposes a Gemm's weight, and shape inference then refuses the model) and pre-processed by
    quant_pre_process (shape inference and graph optimisation)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(source))
    del model.graph.value_info[:]
    cleaned, prepared = scratch / "cleaned.onnx", scratch / "prepared.onnx"
    onnx.save(model, str(cleaned))
    with _quiet():
        quant_pre_process(str(cleaned), str(prepared), skip_symbolic_shape=True)
    return prepared


def _int8_dynamic(source: Path, target: Path, scratch: Path, calibration) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops = ["MatMul", "Gemm"]
    quantized = _weight_nodes(source, ops)
    if not quantized:
        raise VariantSkipped(
            "int8-dynamic quantizes MatMul/Gemm weights, and this model has none (its convolutions "
            "stay fp32): use int8-static"
        )
    with _quiet():
        quantize_dynamic(
            str(_prepared(source, scratch)),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=ops,
        )
    return {
        "tool": "onnxruntime.quantization.quantize_dynamic",
        "weights": "int8, per channel",
        "activations": "int8, scaled per call at run time",
        "quantized_nodes": len(quantized),
    }


# Compute nodes whose weights int8-static quantizes; the first and last are kept in fp32 (the
# layer that reads z and the one that writes pixels are the most sensitive in a generator).
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _int8_static(source: Path, target: Path, scratch: Path, calibration: Calibration | None) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if calibration is None:
        raise VariantSkipped("int8-static needs calibration inputs")
    prepared = _prepared(source, scratch)
    compute = _weight_nodes(prepared, COMPUTE_OPS)
    kept = [compute[0], compute[-1]] if len(compute) > 2 else []
    with _quiet():
        quantize_static(
            str(prepared),
            str(target),
            calibration.reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            nodes_to_exclude=kept,
            extra_options={"CalibPercentile": 99.99},
        )
    return {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8, per channel",
        "activations": "int8, ranges from calibration (percentile 99.99)",
        "kept_fp32": kept,
        "calibration": calibration.record,
    }


def _fp16(source: Path, target: Path, scratch: Path, calibration) -> dict:
    from onnxconverter_common import float16

    model = onnx.load(str(source))
    with _quiet():
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save(converted, str(target))
    return {
        "tool": "onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True)",
        "weights": "fp16",
        "activations": "fp16; inputs and outputs stay fp32",
        "aimed_at": "CUDA (ONNX Runtime's CPU provider runs few fp16 kernels and casts around the rest)",
    }


def _weight_nodes(path: Path, op_types) -> list[str]:
    """Names of the nodes of `op_types` whose weight is an initializer, in graph order."""
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type in op_types and len(node.input) > 1 and node.input[1] in initializers
    ]


def _check_loads(path: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet():
    """The quantization tools log and print each step; a failure is reported in one line instead."""
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
