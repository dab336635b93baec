"""Shared fixtures. Tests read datasets from the cache that `make data` fills; they never download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gan.data.datasets import cache_paths

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("GAN_DATA_DIR") or REPO / "data")
    if not cache_paths(path, "fashion-mnist")[0].exists():
        pytest.fail(f"no fashion-mnist cache in {path}; run `make data` (tests never download)")
    return path


@pytest.fixture(autouse=True)
def _keep_global_rng():
    """Library code must not touch the global RNG; restoring it keeps tests independent anyway."""
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def requires_cuda(reason: str = "needs a CUDA device; this machine has none"):
    return pytest.mark.skipif(not torch.cuda.is_available(), reason=reason)


def fresh_models(name: str = "mlp", seed: int = 0):
    """(Architecture, G, D) of a built-in or user architecture, freshly initialised from `seed`."""
    from gan.architectures import load_architecture

    architecture, _ = load_architecture(name)
    return (architecture, *architecture.build(seed))
