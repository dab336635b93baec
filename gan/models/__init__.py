"""The model registry: every other part of the toolkit asks it for models by architecture name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn

from gan.errors import GanError
from gan.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from gan.models.mlp import IMAGE_SHAPE, MLPDiscriminator, MLPGenerator


@dataclass(frozen=True)
class Architecture:
    name: str
    make_generator: Callable[[int], nn.Module]
    make_discriminator: Callable[[], nn.Module]
    init_weights: Callable[[nn.Module], None] | None = None


ARCHITECTURES = MappingProxyType(
    {
        "mlp": Architecture(
            name="mlp",
            make_generator=MLPGenerator,
            make_discriminator=MLPDiscriminator,
        ),
        "dcgan": Architecture(
            name="dcgan",
            make_generator=DCGANGenerator,
            make_discriminator=DCGANDiscriminator,
            init_weights=dcgan_init,
        ),
    }
)


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise GanError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def build_models(arch: str, z_dim: int, seed: int) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator with weights drawn from `seed`, leaving the global RNG as it was."""
    architecture = get_architecture(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = architecture.make_generator(z_dim)
        discriminator = architecture.make_discriminator()
        if architecture.init_weights is not None:
            generator.apply(architecture.init_weights)
            discriminator.apply(architecture.init_weights)
    return generator, discriminator


class Logits(nn.Module):
    """A discriminator's pre-sigmoid scores as a module's forward, for tools that call forward
    (torch.func.functional_call, tracing, FLOP hooks)."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.d = discriminator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.d.logits(image)


def has_batch_statistics(module: nn.Module) -> bool:
    """True when outputs depend on the rest of the batch, as with BatchNorm in train mode."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


__all__ = [
    "ARCHITECTURES",
    "IMAGE_SHAPE",
    "Architecture",
    "Logits",
    "build_models",
    "get_architecture",
    "has_batch_statistics",
]
