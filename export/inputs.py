"""Seeded inputs for a model's declared shapes, as Polygraphy's data loader builds them from
input metadata: golden I/O, tracing and benchmarks all draw them here."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def example_inputs(
    z_shape: Sequence[int], image_shape: Sequence[int], batch: int, seed: int
) -> dict[str, torch.Tensor]:
    """Never constant: z ~ N(0, 1) and images ~ U(-1, 1), the range a tanh generator produces.
    Keyed by model: the generator and the chain D(G(z)) take z, the discriminator images."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, *z_shape, generator=rng)
    images = torch.rand(batch, *image_shape, generator=rng) * 2 - 1
    return {"generator": z, "discriminator": images, "chain": z}
