"""pytest-benchmark suites for the `gan bench` workloads. CI runs them once each as correctness
tests (--benchmark-disable, set in pyproject.toml); `make bench` times them."""

from __future__ import annotations

import pytest
import torch

from gan.export.exporter import export_models
from gan.export.manifest import read_manifest
from tests.conftest import fresh_models

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(
                not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none"
            ),
        ],
    ),
]


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A fresh seeded MLP GAN exported once: (export dir, manifest, eager G, eager D)."""
    architecture, generator, discriminator = fresh_models("mlp")
    out = tmp_path_factory.mktemp("bench") / "export"
    export_models(architecture, generator, discriminator, out)
    return out, read_manifest(out), generator, discriminator


def synchronized(run, device: str):
    """pytest-benchmark times with a host clock, so on CUDA each call must wait for its kernels."""
    if device != "cuda":
        return run

    def call():
        out = run()
        torch.cuda.synchronize()
        return out

    return call
