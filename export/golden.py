"""Golden I/O: fixed seeded inputs and the eager outputs for them, saved beside the artifacts.

With them, `gan verify` checks the artifacts on another machine or runtime without the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan.errors import GanError
from gan.files.atomic import atomic_path

GOLDEN = "golden.npz"


@torch.no_grad()
def make_golden(
    generator: nn.Module,
    discriminator: nn.Module | None,
    inputs: dict[str, torch.Tensor],
    fixed_noise: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Inputs and eager outputs per model; the chain and D only when there is a discriminator."""
    generator.eval()
    golden = {
        "generator.input": inputs["generator"],
        "generator.output": generator(inputs["generator"]),
        "fixed_noise": fixed_noise,
        "fixed_images": generator(fixed_noise),
    }
    if discriminator is not None:
        discriminator.eval()
        golden |= {
            "discriminator.input": inputs["discriminator"],
            "discriminator.output": discriminator(inputs["discriminator"]),
            "chain.input": inputs["chain"],
            "chain.output": discriminator(generator(inputs["chain"])),
        }
    return golden


def save_golden(path: Path, golden: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: v.detach().cpu().numpy() for k, v in golden.items()})


def load_golden(path: Path) -> dict[str, torch.Tensor]:
    try:
        # allow_pickle=False (numpy's default, said aloud): an object array is refused, never run.
        with np.load(path, allow_pickle=False) as npz:
            return {k: torch.from_numpy(npz[k]) for k in npz.files}
    except Exception as error:
        raise GanError(f"{path} is unreadable ({type(error).__name__}); re-run gan export") from None
