"""Ways to run the training step, each exposing the three train workloads as bound calls.

Every variant runs gan.step's algorithm; they differ only in what executes the modules:
- eager: the modules as they are;
- torchscript: G and D's logits traced in train mode, trained with autograd and the same Adam;
- compile: G and D's logits through torch.compile;
- compile-step: the whole iteration as one compiled graph, exactly what `gan train` runs;
- cudagraph: the eager step captured into CUDA graphs and replayed.
ONNX Runtime has no row here that runs: it has no maintained training path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bench.cuda_graph import capture
from gan.models import Logits, build_models, has_batch_statistics
from gan.step import GanStep, make_optimizer

TRAIN_WORKLOADS = ("d_step", "g_step", "iteration")
ORT_TRAIN_REASON = (
    "ONNX Runtime has no maintained training path (onnxruntime-training is retired); inference only"
)


class Unavailable(Exception):
    """This backend cannot run on this machine; the message says why."""


class NotApplicable(Exception):
    """This backend has no such workload anywhere; the message says why."""


@dataclass
class TrainVariant:
    name: str
    runs: dict[str, Callable[[], object]]
    not_applicable: dict[str, str] = field(default_factory=dict)


class _WrappedDiscriminator(nn.Module):
    """Gives a traced or compiled logits function the `.logits` interface gan.step expects."""

    def __init__(self, logits: nn.Module):
        super().__init__()
        self.wrapped = logits

    def logits(self, image):
        return self.wrapped(image)


def make_train_variant(
    name: str, arch: str, z_dim: int, batch: int, device: torch.device, seed: int = 0
) -> TrainVariant:
    if name.startswith("onnxruntime"):
        raise NotApplicable(ORT_TRAIN_REASON)
    if name == "cudagraph" and device.type != "cuda":
        raise Unavailable("CUDA graphs need a CUDA device")
    generator, discriminator = build_models(arch, z_dim, seed)
    generator.to(device).train(), discriminator.to(device).train()
    rng = torch.Generator(device=device).manual_seed(seed)
    real = torch.randint(0, 256, (batch, 28, 28), dtype=torch.uint8, device=device, generator=rng)
    z = torch.randn(batch, z_dim, device=device, generator=rng)
    concat = not has_batch_statistics(discriminator)
    if name == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            generator = torch.jit.trace(generator, z, check_trace=False)
            with torch.no_grad():
                example = generator(z)
            discriminator = _WrappedDiscriminator(
                torch.jit.trace(Logits(discriminator), example, check_trace=False)
            )
    elif name == "compile":
        generator = torch.compile(generator)
        discriminator = _WrappedDiscriminator(torch.compile(Logits(discriminator)))
    elif name not in ("eager", "compile-step", "cudagraph"):
        raise ValueError(name)
    capturable = name == "cudagraph"
    step = GanStep(
        generator,
        discriminator,
        make_optimizer(generator, 2e-4, (0.5, 0.999), capturable=capturable),
        make_optimizer(discriminator, 2e-4, (0.5, 0.999), capturable=capturable),
        compile=name == "compile-step",
    )
    step.concat_d_pass = concat
    if name == "compile-step":
        return TrainVariant(
            name,
            {"iteration": lambda: step(real, z)},
            {
                "d_step": "compiled as one whole-iteration graph only (see train iteration)",
                "g_step": "compiled as one whole-iteration graph only (see train iteration)",
            },
        )
    runs = {
        "d_step": lambda: step.d_step(real, z),
        "g_step": lambda: step.g_step(z),
        "iteration": lambda: step.eager(real, z),
    }
    if name == "cudagraph":
        runs = {workload: capture(run) for workload, run in runs.items()}
    return TrainVariant(name, runs)
