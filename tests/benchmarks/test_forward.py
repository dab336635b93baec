import pytest
import torch

from export.artifacts import eager_backends, onnxruntime_backends, torchscript_backends
from export.backends import cuda_provider_problem
from tests.benchmarks.conftest import DEVICES, synchronized

EXPECTED_SHAPES = {"generator": (64, 1, 28, 28), "discriminator": (64, 1), "chain": (64, 1)}


def backends(name, exported, device):
    export_dir, manifest, generator, discriminator = exported
    if name == "eager":
        return dict(eager_backends(generator, discriminator, device))
    if name == "torchscript":
        return dict(torchscript_backends(export_dir, manifest, device))
    if device.type == "cuda" and (problem := cuda_provider_problem()) is not None:
        pytest.skip(problem)
    return dict(onnxruntime_backends(export_dir, manifest, device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["generator", "discriminator", "chain"])
@pytest.mark.parametrize("backend", ["eager", "torchscript", "onnxruntime"])
def test_forward_batch_64(benchmark, exported, backend, model, device):
    benchmark.group = f"forward {model} ({device})"
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(64, 100, generator=rng) if model != "discriminator" else torch.rand(64, 1, 28, 28) * 2 - 1
    run = backends(backend, exported, torch.device(device))[model].bind(x)
    output = benchmark(synchronized(run, device))
    assert tuple(output.shape) == EXPECTED_SHAPES[model]
    assert torch.isfinite(output).all()
