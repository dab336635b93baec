"""OpenVINO: the exported ONNX read by OpenVINO's runtime on the CPU. Optional: `pip install
'gan-toolkit[openvino]'`; where it is missing its rows say so with that line.

Precision is always pinned. OpenVINO runs bf16 by default on CPUs that have it unless
INFERENCE_PRECISION_HINT says f32, so an unpinned fp32 row would fail parity for the wrong reason.
Its bf16 sets the hint to bf16 (on CPUs with native bf16 only); its int8 reads the export's
int8-static (QDQ) file, which OpenVINO runs with int8 kernels.
"""

from __future__ import annotations

import numpy as np
import torch

from gan.device import bf16_problem
from gan.export.backends.base import Backend, BackendSpec, ModelSource, Run, Unavailable, Unsupported

INSTALL = "pip install 'gan-toolkit[openvino]' (or pip install openvino)"


def _openvino():
    try:
        import openvino
    except ImportError:
        raise Unavailable(f"OpenVINO is not installed: {INSTALL}") from None
    return openvino


def openvino_problem(device: torch.device) -> str | None:
    try:
        _openvino()
    except Unavailable as error:
        return str(error)
    return None


class OpenVinoBackend(Backend):
    """One ONNX file compiled by OpenVINO for the CPU, with its inference precision pinned."""

    def __init__(self, path, precision: str = "fp32", threads: int | None = None):
        ov = _openvino()
        self.name, self.device, self.precision = "openvino", torch.device("cpu"), precision
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = ov.Core()
        try:
            self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        except Exception as error:  # an operator or a dynamic shape its CPU plug-in lacks
            raise Unsupported(
                f"OpenVINO {ov.__version__.split('-')[0]} cannot compile it: {_first(error)}"
            ) from None
        self.inputs = [port.get_any_name() for port in self.compiled.inputs]

    def bind(self, *inputs: torch.Tensor) -> Run:
        feed = {name: np.ascontiguousarray(x.detach().cpu().numpy()) for name, x in zip(self.inputs, inputs)}
        # A request of its own per bound call: one request is not to be run by two threads at once
        # ("Infer Request is busy"), and a serving process calls from many.
        request = self.compiled.create_infer_request()

        def run() -> torch.Tensor:
            request.infer(feed)
            return torch.from_numpy(request.get_output_tensor(0).data.copy())

        return run

    def bind_all(self, *inputs: torch.Tensor):
        feed = {name: np.ascontiguousarray(x.detach().cpu().numpy()) for name, x in zip(self.inputs, inputs)}
        request, count = self.compiled.create_infer_request(), len(self.compiled.outputs)

        def run() -> tuple[torch.Tensor, ...]:
            request.infer(feed)
            return tuple(torch.from_numpy(request.get_output_tensor(i).data.copy()) for i in range(count))

        return run


def _first(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # OpenVINO's messages open with the C++ file and line of the check that failed.
    told = [line for line in lines if not line.startswith(("Exception from", "Check "))]
    return (told or lines or [type(error).__name__])[0][:300]


def _forward(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    precision = options.get("precision", "fp32")
    if precision == "bf16" and (problem := bf16_problem(device)) is not None:
        raise Unavailable(problem)
    file_precision = "fp32" if precision == "bf16" else precision  # bf16 runs the fp32 file
    path = source.artifact(model, "onnx", file_precision)
    return OpenVinoBackend(path, precision, options.get("threads"))


OPENVINO = BackendSpec(
    name="openvino",
    summary="OpenVINO's CPU runtime reading the exported .onnx, precision pinned (optional extra)",
    devices=("cpu",),
    forward=_forward,
    training=None,
    no_training="OpenVINO runs inference only",
    parity_on=("cpu",),
    bench_on=("cpu",),
    precisions=("fp32", "bf16", "int8-static"),
    availability=openvino_problem,
    optional=True,
    reads="onnx",
)
