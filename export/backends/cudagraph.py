"""CUDA graphs: capture a call once, replay it with one launch. How close we get to the launch floor.

Constraints, which is why this is a benchmark mode and not the default: inputs and outputs live in
static buffers (new data must be copied in), shapes are fixed per graph, nothing in the call may
synchronize with the host, and optimizers must keep their step counters on the device
(`capturable=True`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan.export.backends.base import Backend, BackendSpec, ModelSource, Run, Training


def capture(fn: Callable[[], torch.Tensor], warmup: int = 3) -> Run:
    """Warms `fn` up on a side stream (as capture requires), captures it, and returns the replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = fn()

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


class CudaGraphBackend(Backend):
    """An eager module's forward captured per bound input."""

    output_is_stable = True

    def __init__(self, module: nn.Module, device: torch.device):
        self.name, self.device = "cudagraph", torch.device(device)
        self.module = module.to(self.device).eval()

    def bind(self, *inputs: torch.Tensor) -> Run:
        static = tuple(x.to(self.device).clone() for x in inputs)
        module = self.module

        def forward() -> torch.Tensor:
            with torch.inference_mode():
                return module(*static)

        return capture(forward)


def _forward(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    return CudaGraphBackend(source.module(model), device)


CUDAGRAPH = BackendSpec(
    name="cudagraph",
    summary="CUDA graphs of the eager forward and of each training step",
    devices=("cuda",),
    forward=_forward,
    training=Training(captured=True),
    bench_on=("cuda",),
)
