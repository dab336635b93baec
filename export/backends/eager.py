"""Eager PyTorch: the user's nn.Modules as they are (the reference every other backend is compared
with), and the same modules with every nn.Linear on torch's oneDNN, the other CPU GEMM engine
`gan train --gemm` chooses between."""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan.export.backends.base import Backend, BackendSpec, ModelSource, Run, Training
from gan.train.gemm_engine import onednn_problem, use_engine


class TorchBackend(Backend):
    """An nn.Module or a TorchScript module, run under inference mode on its device."""

    def __init__(self, name: str, module: nn.Module, device: torch.device):
        self.name, self.device = name, torch.device(device)
        self.module = module.to(self.device).eval()

    def bind(self, *inputs: torch.Tensor) -> Run:
        inputs = tuple(x.to(self.device) for x in inputs)
        module = self.module

        def run() -> torch.Tensor:
            with torch.inference_mode():
                return module(*inputs)

        return run


def _eager(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    return TorchBackend("eager", source.module(model), device)


def _eager_onednn(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    # A copy: the swap is in place, and the eager rows must keep aten.
    return TorchBackend("eager-onednn", use_engine(copy.deepcopy(source.module(model)), "onednn"), device)


def _onednn_wrap(generator: nn.Module, discriminator: nn.Module, z: torch.Tensor):
    return use_engine(generator, "onednn"), use_engine(discriminator, "onednn")


EAGER = BackendSpec(
    name="eager",
    summary="the nn.Modules as they are",
    devices=("cpu", "cuda"),
    forward=_eager,
    training=Training(),
    parity_on=("cpu", "cuda"),
    bench_on=("cpu", "cuda"),
)
EAGER_ONEDNN = BackendSpec(
    name="eager-onednn",
    summary="eager with every nn.Linear on torch's oneDNN (gan train --gemm onednn)",
    devices=("cpu",),
    forward=_eager_onednn,
    training=Training(wrap=_onednn_wrap),
    bench_on=("cpu",),
    availability=lambda device: onednn_problem(device, compiled=False),
)
