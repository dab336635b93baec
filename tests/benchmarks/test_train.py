import pytest
import torch

from bench.train_variants import make_train_variant
from tests.benchmarks.conftest import DEVICES, synchronized


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("variant", "workload"),
    [(v, w) for v in ("eager", "torchscript") for w in ("d_step", "g_step", "iteration")]
    + [("compile-step", "iteration")],
)
def test_train_step_batch_64(benchmark, variant, workload, device):
    benchmark.group = f"train {workload} ({device})"
    steps = make_train_variant(variant, "mlp", 100, 64, torch.device(device))
    result = benchmark(synchronized(steps.runs[workload], device))
    assert torch.isfinite(result).all()
