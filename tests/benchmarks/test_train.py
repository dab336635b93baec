"""Training steps at batch 64: each step of the eager and TorchScript variants, and the compiled
whole iteration `gan train` runs."""

import pytest
import torch
from helpers import DEVICES, fresh_models, synchronized

from gan.bench.train_variants import TrainSetup, make_train_variant
from gan.train.loss import GanLoss


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("variant", "workload"),
    [(v, w) for v in ("eager", "torchscript") for w in ("d_step", "g_step", "iteration")]
    # A cold inductor compile takes seconds; the slow tier runs it.
    + [pytest.param("compile-step", "iteration", marks=pytest.mark.slow)],
)
def test_train_step_batch_64(benchmark, variant, workload, device):
    benchmark.group = f"train {workload} ({device})"
    architecture, generator, discriminator = fresh_models("mlp")
    setup = TrainSetup(generator, discriminator, GanLoss(), architecture.signature, 64, torch.device(device))
    steps = make_train_variant(variant, setup)
    result = benchmark(synchronized(steps.runs[workload], device))
    assert torch.isfinite(result).all()
