"""Eager PyTorch: the user's nn.Modules as they are (the reference every other backend is compared
with), and the same modules with every nn.Linear on torch's oneDNN, the other CPU GEMM engine
`gan train --gemm` chooses between."""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan.device import bf16_problem
from gan.export.backends.base import Backend, BackendSpec, ModelSource, Run, Training, Unavailable
from gan.models.outputs import as_tuple
from gan.train.gemm_engine import onednn_problem, use_engine


class TorchBackend(Backend):
    """An nn.Module or a TorchScript module, run under inference mode on its device; with
    `autocast` bf16, under torch.autocast (weights stay fp32, matmuls and convolutions run bf16),
    its output returned as fp32 like every other backend's."""

    def __init__(self, name: str, module: nn.Module, device: torch.device, autocast: bool = False):
        self.name, self.device = name, torch.device(device)
        self.module = module.to(self.device).eval()
        self.autocast = autocast

    def bind(self, *inputs: torch.Tensor) -> Run:
        run = self.bind_all(*inputs)
        return lambda: run()[0]

    def bind_all(self, *inputs: torch.Tensor):
        inputs = tuple(x.to(self.device) for x in inputs)
        module, device_type, autocast = self.module, self.device.type, self.autocast

        def run() -> tuple[torch.Tensor, ...]:
            with torch.inference_mode(), torch.autocast(device_type, torch.bfloat16, enabled=autocast):
                return tuple(t.float() for t in as_tuple(module(*inputs)))

        return run


def autocast_wanted(device: torch.device, options: dict) -> bool:
    """True for bf16; raises Unavailable where the device would only emulate it."""
    if options.get("precision", "fp32") != "bf16":
        return False
    if (problem := bf16_problem(device)) is not None:
        raise Unavailable(problem)
    return True


def _eager(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    return TorchBackend("eager", source.module(model), device, autocast_wanted(device, options))


def _eager_onednn(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    # A copy: the swap is in place, and the eager rows must keep aten.
    return TorchBackend("eager-onednn", use_engine(copy.deepcopy(source.module(model)), "onednn"), device)


def _onednn_wrap(generator: nn.Module, discriminator: nn.Module, g_args: tuple, d_args):
    return use_engine(generator, "onednn"), use_engine(discriminator, "onednn")


EAGER = BackendSpec(
    name="eager",
    summary="the nn.Modules as they are",
    devices=("cpu", "cuda"),
    forward=_eager,
    training=Training(),
    parity_on=("cpu", "cuda"),
    bench_on=("cpu", "cuda"),
    precisions=("fp32", "bf16"),
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
