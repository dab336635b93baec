"""pytest-benchmark suites: `make test` runs them once each as correctness tests
(--benchmark-disable); `make bench` times them.

Forward passes of G, D and D(G(z)) at batch 64, through each backend parity proves."""

import pytest
import torch
from helpers import DEVICES, synchronized

from gan.export.backends import ModelSource, backend_spec, build_backends
from gan.export.backends.onnxruntime import cuda_provider_problem
from gan.export.manifest import read_manifest
from gan.runs.trained import load_trained_run

EXPECTED_SHAPES = {"generator": (64, 1, 28, 28), "discriminator": (64, 1), "chain": (64, 1)}


@pytest.fixture(scope="module")
def backends(exported_run):
    """The backends of each (name, device), built once: ORT sessions and TorchScript loads are
    set-up, not what these benchmarks time."""
    run = load_trained_run(exported_run)
    eager = {"generator": run.generator, "discriminator": run.discriminator}
    source = ModelSource(exported_run / "export", read_manifest(exported_run / "export"), eager)
    built = {}

    def get(name: str, device: torch.device):
        if name == "onnxruntime" and device.type == "cuda":
            if (problem := cuda_provider_problem()) is not None:
                pytest.skip(problem)
            name = "onnxruntime-iobinding"
        if (name, device) not in built:
            built[name, device] = build_backends(backend_spec(name), source, device)
        return built[name, device]

    return get


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["generator", "discriminator", "chain"])
@pytest.mark.parametrize("backend", ["eager", "torchscript", "onnxruntime"])
def test_forward_batch_64(benchmark, backends, backend, model, device):
    benchmark.group = f"forward {model} ({device})"
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(64, 100, generator=rng) if model != "discriminator" else torch.rand(64, 1, 28, 28) * 2 - 1
    run = backends(backend, torch.device(device))[model].bind(x)
    output = benchmark(synchronized(run, device))
    assert tuple(output.shape) == EXPECTED_SHAPES[model]
    assert torch.isfinite(output).all()
