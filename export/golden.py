"""Golden I/O: fixed seeded inputs and the eager outputs for them, saved beside the artifacts.

With them, `gan verify` checks the artifacts on another machine or runtime without the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan.atomic import atomic_path
from gan.errors import GanError

GOLDEN = "golden.npz"
MODELS = ("generator", "discriminator", "chain")


def golden_inputs(z_dim: int, batch: int, seed: int) -> dict[str, torch.Tensor]:
    """Seeded, never constant: z ~ N(0, 1) and images ~ U(-1, 1), the range G's tanh produces."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, z_dim, generator=rng)
    images = torch.rand(batch, 1, 28, 28, generator=rng) * 2 - 1
    return {"generator": z, "discriminator": images, "chain": z}


@torch.no_grad()
def make_golden(
    generator: nn.Module, discriminator: nn.Module, inputs: dict[str, torch.Tensor], fixed_noise: torch.Tensor
) -> dict[str, torch.Tensor]:
    generator.eval(), discriminator.eval()
    return {
        **{f"{name}.input": x for name, x in inputs.items()},
        "generator.output": generator(inputs["generator"]),
        "discriminator.output": discriminator(inputs["discriminator"]),
        "chain.output": discriminator(generator(inputs["chain"])),
        "fixed_noise": fixed_noise,
        "fixed_images": generator(fixed_noise),
    }


def save_golden(path: Path, golden: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: v.detach().cpu().numpy() for k, v in golden.items()})


def load_golden(path: Path) -> dict[str, torch.Tensor]:
    try:
        with np.load(path) as npz:
            return {k: torch.from_numpy(npz[k]) for k in npz.files}
    except Exception as error:
        raise GanError(f"{path} is unreadable ({type(error).__name__}); re-run gan export") from None
