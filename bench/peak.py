"""The device's fp32 matrix-multiply peak: the best of every GEMM engine present, measured in the
same run as the benchmarks it scales, so no row can read above 100% of it.

CPU engines: torch.mm (MKL on x86 wheels), torch's own oneDNN (a prepacked linear), and ONNX
Runtime's MLAS. On some CPUs MKL takes a slow path that the others do not, so timing torch.mm
alone understates the machine. CUDA: cuBLAS (TF32 off, since every backend here computes fp32) and
ONNX Runtime's CUDA provider where it is installed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gan.bench.timing import StopRule, measure
from gan.export.backends.onnxruntime import bind_session, cuda_provider_problem


def _torch_mm(a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    return lambda: torch.mm(a, b)


def _onednn(a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    # nn.Linear's weight is (out, in): pass b transposed, prepacked once into oneDNN's layout.
    packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(), a.shape[0])
    return lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")


def _onnxruntime(a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = a.shape[0]
    spec = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ABC"]
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"])], "gemm", spec[:2], spec[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    if a.device.type == "cuda":
        providers = [("CUDAExecutionProvider", {"device_id": a.device.index or 0, "use_tf32": 0})]
    else:
        providers = ["CPUExecutionProvider"]
    session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
    if a.device.type == "cuda":  # device-resident, as the onnxruntime-iobinding backend runs
        return bind_session(session, {"A": a, "B": b}, a.device)
    feed = {"A": a.numpy(), "B": b.numpy()}
    return lambda: session.run(None, feed)


def _engines(device: torch.device) -> dict[str, Callable]:
    if device.type == "cuda":
        engines = {"cuBLAS (torch.mm)": _torch_mm}
        if cuda_provider_problem() is None:
            engines["onnxruntime CUDA"] = _onnxruntime
        return engines
    engines = {"torch.mm": _torch_mm}
    if torch.backends.mkldnn.is_available():
        engines["oneDNN linear"] = _onednn
    engines["onnxruntime MLAS"] = _onnxruntime
    return engines


def matmul_peak_gflops(device: torch.device, quick: bool = False) -> dict:
    """fp32 GEMM GFLOP/s of every engine at a few sizes; the peak is the best of all."""
    if device.type == "cuda":
        sizes = (4096,) if quick else (4096, 8192)
    else:
        sizes = (1024,) if quick else (1024, 2048)
    rule = StopRule(warmup=3, min_iters=5, min_time_s=0.1 if quick else 0.5)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    engines: dict[str, dict] = {}
    try:
        for n in sizes:
            generator = torch.Generator(device=device).manual_seed(0)
            a = torch.randn(n, n, device=device, generator=generator)
            b = torch.randn(n, n, device=device, generator=generator)
            for name, make in _engines(device).items():
                try:
                    samples = measure(make(a, b), device, rule).samples_ms
                except Exception as error:  # an engine missing here is recorded, not fatal
                    engines.setdefault(name, {})["error"] = f"{type(error).__name__}: {error}"[:200]
                    continue
                # The best sample, not the median: the peak is what the hardware can do.
                engines.setdefault(name, {})[str(n)] = 2 * n**3 / (min(samples) / 1e3) / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    best = {
        name: max(v for k, v in figures.items() if k != "error")
        for name, figures in engines.items()
        if any(k != "error" for k in figures)
    }
    engine = max(best, key=best.get)
    return {
        "dtype": "float32",
        "sizes": list(sizes),
        "gflops": best[engine],
        "engine": engine,
        "engines": engines,
    }
