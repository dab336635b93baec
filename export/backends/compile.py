"""torch.compile: of each module (forward, and the train workloads through autograd), and of the
whole training iteration as one graph, exactly as `gan train` runs it ("compile-step")."""

from __future__ import annotations

import torch
from torch import nn

from gan.export.backends.base import Backend, BackendSpec, ModelSource, Training
from gan.export.backends.eager import TorchBackend, autocast_wanted


def _forward(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    autocast = autocast_wanted(device, options)
    return TorchBackend("compile", torch.compile(source.module(model)), device, autocast)


def _compiled(generator: nn.Module, discriminator: nn.Module, g_args: tuple, d_args):
    return torch.compile(generator), torch.compile(discriminator)


COMPILE = BackendSpec(
    name="compile",
    summary="torch.compile of the modules",
    devices=("cpu", "cuda"),
    forward=_forward,
    training=Training(wrap=_compiled, double_backward=False),
    bench_on=("cpu", "cuda"),
    precisions=("fp32", "bf16"),
)
COMPILE_STEP = BackendSpec(
    name="compile-step",
    summary="the whole training iteration as one compiled graph (what gan train runs)",
    devices=("cpu", "cuda"),
    forward=None,
    no_forward="the whole-step graph is a training path; see the compile row for forward",
    training=Training(whole_step=True),
    bench_on=("cpu", "cuda"),
)
