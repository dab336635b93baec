import pytest
import torch

from gan.bench.train_variants import TrainSetup, make_train_variant
from tests.benchmarks.conftest import DEVICES, synchronized
from tests.conftest import fresh_models


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("variant", "workload"),
    [(v, w) for v in ("eager", "torchscript") for w in ("d_step", "g_step", "iteration")]
    + [("compile-step", "iteration")],
)
def test_train_step_batch_64(benchmark, variant, workload, device):
    benchmark.group = f"train {workload} ({device})"
    _, generator, discriminator = fresh_models("mlp")
    setup = TrainSetup(generator, discriminator, "probability", (100,), (1, 28, 28), 64, torch.device(device))
    steps = make_train_variant(variant, setup)
    result = benchmark(synchronized(steps.runs[workload], device))
    assert torch.isfinite(result).all()
