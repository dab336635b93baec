import pytest
import torch

from gan.export.backends import cuda_provider_problem
from gan.export.registry import ModelSource, build_backends
from tests.benchmarks.conftest import DEVICES, synchronized

EXPECTED_SHAPES = {"generator": (64, 1, 28, 28), "discriminator": (64, 1), "chain": (64, 1)}


def backends(name, exported, device):
    export_dir, manifest, generator, discriminator = exported
    if name == "onnxruntime" and device.type == "cuda":
        if (problem := cuda_provider_problem()) is not None:
            pytest.skip(problem)
        name = "onnxruntime-iobinding"
    source = ModelSource(export_dir, manifest, {"generator": generator, "discriminator": discriminator})
    return build_backends(name, source, device)


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
