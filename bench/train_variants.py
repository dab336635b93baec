"""Each backend's way of running the GAN step, exposing the three train workloads as bound calls.

Every variant runs gan.train.step's algorithm; they differ only in what executes the modules, as
each backend's `Training` declares (gan.export.backends): the modules as they are, wrapped
(oneDNN linears, traced, compiled), the whole iteration as one compiled graph, or each workload
captured into a CUDA graph.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from gan.device import bf16_problem
from gan.export.backends import BackendSpec, NotApplicable, Unavailable, backend_spec
from gan.export.backends.cudagraph import capture
from gan.models.architecture import has_batch_statistics
from gan.models.inputs import Labels, Noise, Signature, as_called
from gan.train.adam import make_optimizer
from gan.train.loss import GanLoss
from gan.train.step import GanStep, call_args, label_slots, why_untrainable

TRAIN_WORKLOADS = ("d_step", "g_step", "iteration")
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
    loss: GanLoss  # what trains them: BCE on D's output kind, hinge or WGAN-GP
    signature: Signature  # how G and D are called: what inputs they take
    batch: int
    device: torch.device


def make_train_variant(
    backend: BackendSpec | str, setup: TrainSetup, seed: int = 0, precision: str = "fp32"
) -> TrainVariant:
    """`backend`'s training step on `setup`; with precision "bf16", every workload under
    torch.autocast (where the device has native bf16; the row says why not elsewhere)."""
    spec = backend_spec(backend) if isinstance(backend, str) else backend
    if spec.training is None:
        raise NotApplicable(spec.no_training)
    if precision not in spec.precisions or precision not in ("fp32", "bf16"):
        raise NotApplicable(f"{spec.name} trains in {', '.join(spec.precisions)}, not {precision}")
    if (problem := spec.problem(setup.device)) is not None:
        raise Unavailable(problem)
    if precision == "bf16" and (problem := bf16_problem(setup.device)) is not None:
        raise Unavailable(problem)
    if setup.discriminator is None:
        raise NotApplicable("no discriminator: a generator-only model has no training step")
    signature = setup.signature
    if (why := why_untrainable(signature)) is not None or None in signature.image_shape:
        raise NotApplicable(why or "the GAN step trains images of one size; this G makes any size")
    training, device = spec.training, setup.device
    # As the GAN step trains them: G's image and D's score alone of models that return several.
    generator = as_called(signature, "generator", copy.deepcopy(setup.generator).to(device).train())
    discriminator = as_called(
        signature, "discriminator", copy.deepcopy(setup.discriminator).to(device).train()
    )
    rng = torch.Generator(device=device).manual_seed(seed)
    real = torch.randint(
        0, 256, (setup.batch, *setup.signature.image_shape), dtype=torch.uint8, device=device, generator=rng
    )
    inputs = {
        type(spec): x.to(device)
        for spec, x in zip(signature.generator_inputs, signature.draw("generator", setup.batch, seed))
    }
    z, labels = inputs[Noise], inputs.get(Labels)
    # Read before wrapping: a traced or compiled module no longer shows its BatchNorm layers.
    concat = not has_batch_statistics(discriminator)
    if training.wrap is not None:  # traced as the step calls them: a conditional GAN's labels too
        slots = label_slots(signature)
        g_args = call_args(slots, 0, z, labels)
        generator, discriminator = training.wrap(
            generator, discriminator, g_args, lambda image: call_args(slots, 1, image, labels)
        )
    step = GanStep(
        generator,
        discriminator,
        make_optimizer(generator, 2e-4, (0.5, 0.999), capturable=training.captured),
        make_optimizer(discriminator, 2e-4, (0.5, 0.999), capturable=training.captured),
        loss=setup.loss,
        compile=training.whole_step,
        signature=signature,
    )
    step.concat_d_pass = concat
    if training.whole_step:
        not_applicable = {"d_step": WHOLE_GRAPH_ONLY, "g_step": WHOLE_GRAPH_ONLY}
        if step.eager_reason is not None:
            raise NotApplicable(f"this model {step.eager_reason}; see the eager rows")
        return TrainVariant(spec.name, {"iteration": lambda: step(real, z, labels)}, not_applicable)
    runs = {
        "d_step": lambda: step.d_step(real, z, labels),
        "g_step": lambda: step.g_step(z, labels),
        "iteration": lambda: step.eager(real, z, labels),
    }
    if precision == "bf16":
        runs = {workload: _autocast(run, device) for workload, run in runs.items()}
    if training.captured:
        runs = {workload: capture(run) for workload, run in runs.items()}
    if setup.loss.penalized and not training.double_backward:  # the G step has no penalty: it runs
        why = (
            f"{spec.name} cannot differentiate the gradient penalty's gradient (a double backward, "
            "which torch.compile's autograd does not support); see the eager rows"
        )
        return TrainVariant(spec.name, {"g_step": runs["g_step"]}, {"d_step": why, "iteration": why})
    return TrainVariant(spec.name, runs)


def _autocast(run: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """`run` with its matmuls and convolutions in bf16; weights, Adam state and losses stay fp32."""

    def run_bf16():
        with torch.autocast(device.type, torch.bfloat16):
            return run()

    return run_bf16
