"""Ways to run the training step, each exposing the three train workloads as bound calls.

Every variant runs gan.step's algorithm; they differ only in what executes the modules:
- eager: the modules as they are;
- eager-onednn: the same, with every nn.Linear on torch's oneDNN (gan.gemm_engine);
- torchscript: G and D traced in train mode, trained with autograd and the same Adam;
- compile: G and D through torch.compile;
- compile-step: the whole iteration as one compiled graph, exactly what `gan train` runs;
- cudagraph: the eager step captured into CUDA graphs and replayed.
ONNX Runtime has no row here that runs: it has no maintained training path.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from gan.architecture import has_batch_statistics
from gan.export.registry import NotApplicable, Unavailable
from gan.gemm_engine import onednn_problem, use_engine
from gan.step import GanStep, make_optimizer

TRAIN_WORKLOADS = ("d_step", "g_step", "iteration")
ORT_TRAIN_REASON = (
    "ONNX Runtime has no maintained training path (onnxruntime-training is retired); inference only"
)
WHOLE_GRAPH_ONLY = "compiled as one whole-iteration graph only (see train iteration)"


@dataclass
class TrainVariant:
    name: str
    runs: dict[str, Callable[[], object]]
    not_applicable: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainSetup:
    """What every variant trains: copies of these modules on synthetic data of their shapes."""

    generator: nn.Module
    discriminator: nn.Module | None
    output_kind: str
    z_shape: tuple[int, ...]
    image_shape: tuple[int, ...]
    batch: int
    device: torch.device


def _traced(generator, discriminator, z):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        generator = torch.jit.trace(generator, z, check_trace=False)
        with torch.no_grad():
            example = generator(z)
        return generator, torch.jit.trace(discriminator, example, check_trace=False)


def _onednn(generator, discriminator, z):
    return use_engine(generator, "onednn"), use_engine(discriminator, "onednn")


def _compiled(generator, discriminator, z):
    return torch.compile(generator), torch.compile(discriminator)


# How each variant wraps G and D before the step runs them (None: as they are).
MODULE_WRAPPERS = {
    "eager": None,
    "eager-onednn": _onednn,
    "torchscript": _traced,
    "compile": _compiled,
    "compile-step": None,
    "cudagraph": None,
}


def make_train_variant(name: str, setup: TrainSetup, seed: int = 0) -> TrainVariant:
    if name.startswith("onnxruntime"):
        raise NotApplicable(ORT_TRAIN_REASON)
    if name not in MODULE_WRAPPERS:
        raise Unavailable(f"{name} has no training path")
    if name == "cudagraph" and setup.device.type != "cuda":
        raise Unavailable("CUDA graphs need a CUDA device")
    if name == "eager-onednn" and (problem := onednn_problem(setup.device, compiled=False)) is not None:
        raise Unavailable(problem)
    if setup.discriminator is None:
        raise NotApplicable("no discriminator: a generator-only model has no training step")
    device = setup.device
    generator = copy.deepcopy(setup.generator).to(device).train()
    discriminator = copy.deepcopy(setup.discriminator).to(device).train()
    rng = torch.Generator(device=device).manual_seed(seed)
    real = torch.randint(
        0, 256, (setup.batch, *setup.image_shape), dtype=torch.uint8, device=device, generator=rng
    )
    z = torch.randn(setup.batch, *setup.z_shape, device=device, generator=rng)
    # Read before wrapping: a traced or compiled module no longer shows its BatchNorm layers.
    concat = not has_batch_statistics(discriminator)
    if (wrap := MODULE_WRAPPERS[name]) is not None:
        generator, discriminator = wrap(generator, discriminator, z)
    capturable = name == "cudagraph"
    step = GanStep(
        generator,
        discriminator,
        make_optimizer(generator, 2e-4, (0.5, 0.999), capturable=capturable),
        make_optimizer(discriminator, 2e-4, (0.5, 0.999), capturable=capturable),
        output_kind=setup.output_kind,
        compile=name == "compile-step",
    )
    step.concat_d_pass = concat
    if name == "compile-step":
        return TrainVariant(
            name,
            {"iteration": lambda: step(real, z)},
            {"d_step": WHOLE_GRAPH_ONLY, "g_step": WHOLE_GRAPH_ONLY},
        )
    runs = {
        "d_step": lambda: step.d_step(real, z),
        "g_step": lambda: step.g_step(z),
        "iteration": lambda: step.eager(real, z),
    }
    if name == "cudagraph":
        from gan.export.cuda_graph import capture

        runs = {workload: capture(run) for workload, run in runs.items()}
    return TrainVariant(name, runs)
