"""ONNX Runtime: the exported `.onnx` in an InferenceSession, on the CPU execution provider, or on
CUDA device-resident through IOBinding, end to end through numpy, or replayed as a CUDA graph.
It has no maintained training path, so its train rows say why.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from gan.errors import EnvironmentMissing, GanError
from gan.export.backends.base import Backend, BackendSpec, ModelSource, Run
from gan.export.precision import FILE_PRECISIONS

NO_TRAINING = "ONNX Runtime has no maintained training path (onnxruntime-training is retired); inference only"


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Captures what native code writes to file descriptor 2 (ONNX Runtime's loader errors)."""
    lines: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode(errors="replace").splitlines())


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise EnvironmentMissing(
            "onnxruntime is not installed: pip install onnxruntime-gpu (or onnxruntime)"
        ) from None
    return onnxruntime


def cuda_provider_problem() -> str | None:
    """Why ONNX Runtime's CUDA execution provider cannot run here, or None when it can be tried."""
    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (
            f"the installed onnxruntime {ort.__version__} has no CUDA execution provider "
            "(providers: " + ", ".join(ort.get_available_providers()) + "); install onnxruntime-gpu"
        )
    return None


class OnnxRuntimeBackend(Backend):
    """An ONNX file in an ONNX Runtime session on the CPU or CUDA execution provider.

    On CUDA, `io_binding=True` (device-resident) binds inputs and preallocated outputs as torch
    CUDA tensors, so nothing crosses to the host; `io_binding=False` (end-to-end) feeds numpy
    arrays and returns host memory, which includes both copies.
    """

    def __init__(
        self,
        path: Path,
        device: torch.device,
        *,
        io_binding: bool | None = None,
        cuda_graph: bool = False,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
    ):
        ort = _ort()
        self.path, self.device = Path(path), torch.device(device)
        self.io_binding = self.device.type == "cuda" if io_binding is None else io_binding
        self.output_is_stable = self.io_binding
        mode = ("iobinding" if self.io_binding else "numpy") if self.device.type == "cuda" else ""
        self.name = "onnxruntime" + (f"-{mode}" if mode else "") + ("-cudagraph" if cuda_graph else "")
        if not self.path.is_file():
            raise GanError(f"ONNX file {self.path} does not exist")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Fatal only: a failure reaches the user once, as the row's one-line reason, not as log lines.
        options.log_severity_level = 4
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        if inter_op_threads is not None:
            options.inter_op_num_threads = inter_op_threads
        providers: list = ["CPUExecutionProvider"]
        if self.device.type == "cuda":
            if (problem := cuda_provider_problem()) is not None:
                raise EnvironmentMissing(f"cannot run ONNX Runtime on CUDA: {problem}")
            cuda_options = {"device_id": self.device.index or 0}
            if cuda_graph:
                cuda_options["enable_cuda_graph"] = "1"
            providers = [("CUDAExecutionProvider", cuda_options)]
            with contextlib.suppress(Exception):
                ort.preload_dlls()  # CUDA/cuDNN from the nvidia-* wheels torch installed
        with captured_stderr() as log:
            try:
                self.session = ort.InferenceSession(str(self.path), options, providers=providers)
            except Exception as error:
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                if self.device.type == "cuda" and "CUDA" in message:
                    raise EnvironmentMissing(_cuda_load_failure(message, log)) from None
                raise GanError(
                    f"{self.path} is not a loadable ONNX model (corrupt or truncated?): {message}"
                ) from None
        if self.device.type == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise EnvironmentMissing(_cuda_load_failure("the session fell back to the CPU", log))
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()

    def bind(self, *inputs: torch.Tensor) -> Run:
        if len(inputs) != len(self.inputs):
            raise GanError(f"{self.path.name} takes {len(self.inputs)} input(s), got {len(inputs)}")
        return self.bind_feed({meta.name: x for meta, x in zip(self.inputs, inputs)})

    def bind_feed(self, feed: dict[str, torch.Tensor]) -> Run:
        """Like bind, with inputs by name; checks names, ranks and fixed dims before ORT sees them."""
        expected = [meta.name for meta in self.inputs]
        if sorted(feed) != sorted(expected):
            raise GanError(f"{self.path.name} has input(s) {expected}, got {sorted(feed)}")
        for meta in self.inputs:
            _check_shape(self.path.name, meta.name, meta.shape, tuple(feed[meta.name].shape))
        batch = next(iter(feed.values())).shape[0]
        if not self.io_binding:
            arrays = {name: x.detach().to("cpu").contiguous().numpy() for name, x in feed.items()}
            session, output = self.session, self.outputs[0].name

            def run() -> torch.Tensor:
                try:
                    return torch.from_numpy(session.run([output], arrays)[0])
                except Exception as error:  # a graph that breaks at run time (an absurd allocation)
                    raise GanError(run_failure(error)) from error

            return run
        return self._bind_device(feed, batch)

    def bind_all(self, *inputs: torch.Tensor):
        if len(self.outputs) == 1:
            return super().bind_all(*inputs)
        arrays = {meta.name: x.detach().cpu().contiguous().numpy() for meta, x in zip(self.inputs, inputs)}
        session = self.session

        def run() -> tuple[torch.Tensor, ...]:
            try:
                return tuple(torch.from_numpy(a) for a in session.run(None, arrays))
            except Exception as error:
                raise GanError(run_failure(error)) from error

        return run

    def _bind_device(self, feed: dict[str, torch.Tensor], batch: int) -> Run:
        return bind_session(self.session, feed, self.device, batch)


def bind_session(
    session, feed: dict[str, torch.Tensor], device: torch.device, batch: int | None = None
) -> Run:
    """IOBinding: binds `feed` and a preallocated output, both torch tensors on `device`, so a run
    moves nothing between host and device. A symbolic batch axis of the output takes `batch`; other
    symbolic axes (a fully convolutional G's height and width) are learnt from one run."""
    binding = session.io_binding()
    device_type = "cuda" if device.type == "cuda" else "cpu"
    device_id = device.index or 0
    inputs = {name: x.detach().to(device).contiguous() for name, x in feed.items()}
    for name, tensor in inputs.items():
        # float32 images and noise, int64 labels: bound with their own element type.
        element = np.int64 if tensor.dtype == torch.int64 else np.float32
        binding.bind_input(name, device_type, device_id, element, list(tensor.shape), tensor.data_ptr())
    meta = session.get_outputs()[0]
    shape = [d if isinstance(d, int) else batch for d in meta.shape]
    if any(not isinstance(d, int) for d in meta.shape[1:]):  # sizes that follow the input's: ask once
        shape = list(session.run([meta.name], {n: t.cpu().numpy() for n, t in inputs.items()})[0].shape)
    output = torch.empty(shape, dtype=torch.float32, device=device)
    binding.bind_output(meta.name, device_type, device_id, np.float32, shape, output.data_ptr())

    def run() -> torch.Tensor:
        _ = inputs  # the bound buffers must outlive the binding
        try:
            session.run_with_iobinding(binding)
        except Exception as error:
            raise GanError(run_failure(error)) from error
        return output

    return run


def run_failure(error: Exception) -> str:
    """ONNX Runtime's message, without its status prefix and the C++ source and signature:
    "ONNX Runtime failed in a ConstantOfShape node: Failed to allocate memory for ... 4398046511104"."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"/onnxruntime_src/\S+:\d+ .*?\) ", "", text)  # the C++ file, line and signature
    node = re.search(r"while running (\w+) node\. Name:'([^']*)' Status Message: (.*)", text)
    if node:
        where = f"a {node[1]} node" + (f" ({node[2]})" if node[2] else "")
        text = f"{where}: {node[3]}"
    return f"ONNX Runtime failed in {text}"[:300]


def _check_shape(model: str, name: str, declared: list, actual: tuple[int, ...]) -> None:
    wanted = "(" + ", ".join(str(d) for d in declared) + ")"
    if len(declared) != len(actual) or any(isinstance(d, int) and d != a for d, a in zip(declared, actual)):
        raise GanError(f"input {name!r} of {model} expects shape {wanted}, got {tuple(actual)}")


def _cuda_load_failure(message: str, log: list[str]) -> str:
    text = " ".join([message, *log])
    missing = sorted(set(re.findall(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", text)))
    ort = _ort()
    detail = f"missing {', '.join(missing)}" if missing else message
    return (
        f"ONNX Runtime's CUDA execution provider (onnxruntime-gpu {ort.__version__}) could not load: "
        f"{detail}. It needs an NVIDIA driver plus the CUDA 13 and cuDNN 9 libraries, which "
        "onnxruntime.preload_dlls() loads from the nvidia-* wheels that torch installs"
    )


def _forward(mode: str):
    """A builder for one ONNX Runtime mode: "" (the provider of the device), "iobinding",
    "numpy" or "cudagraph"."""

    def build(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
        threads = options.get("threads")
        return OnnxRuntimeBackend(
            source.artifact(model, "onnx", options.get("precision", "fp32")),
            device,
            io_binding=None if mode == "" else mode != "numpy",
            cuda_graph=mode == "cudagraph",
            intra_op_threads=threads,
            inter_op_threads=1 if threads else None,
        )

    return build


def _cuda_availability(device: torch.device) -> str | None:
    return cuda_provider_problem() if device.type == "cuda" else None


def _spec(mode: str, summary: str, devices: tuple[str, ...], parity_on=(), bench_on=()) -> BackendSpec:
    return BackendSpec(
        precisions=("fp32", *FILE_PRECISIONS),
        name="onnxruntime" + (f"-{mode}" if mode else ""),
        summary=summary,
        devices=devices,
        forward=_forward(mode),
        training=None,
        no_training=NO_TRAINING,
        parity_on=parity_on,
        bench_on=bench_on,
        availability=_cuda_availability,
        reads="onnx",
    )


# On CUDA, bench's ONNX Runtime rows are the three explicit modes; plain "onnxruntime" runs there
# too (as IOBinding), for sample and eval.
ONNXRUNTIME = _spec(
    "", "the exported .onnx; the CPU execution provider on cpu", ("cpu", "cuda"), ("cpu",), ("cpu",)
)
ONNXRUNTIME_IOBINDING = _spec(
    "iobinding", "ORT CUDA, inputs and outputs bound as torch CUDA tensors", ("cuda",), ("cuda",), ("cuda",)
)
ONNXRUNTIME_NUMPY = _spec("numpy", "ORT CUDA, numpy in and out (end to end)", ("cuda",), ("cuda",), ("cuda",))
ONNXRUNTIME_CUDAGRAPH = _spec(
    "cudagraph", "ORT CUDA with enable_cuda_graph (fixed shapes and addresses)", ("cuda",), (), ("cuda",)
)
