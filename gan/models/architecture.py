"""`Architecture`: the one object that describes a GAN to the toolkit.

Shapes, D's output kind and the factories travel together, so no other part of the toolkit needs
a constant for an image shape or a z size: it reads them from here, or from an export's manifest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gan.errors import GanError

OUTPUT_KINDS = ("probability", "logits")


@dataclass(frozen=True)
class Architecture:
    """A user's GAN: zero-argument factories for G (and D, or None) plus the shapes they use.

    `z_shape` and `image_shape` are per sample, without the batch axis. `discriminator_output`
    says whether D ends in a sigmoid ("probability") or not ("logits"); training picks the matching
    BCE. `init_weights`, if given, is applied with `Module.apply` to fresh models before training.
    """

    name: str
    generator: Callable[[], nn.Module]
    discriminator: Callable[[], nn.Module] | None
    z_shape: tuple[int, ...]
    image_shape: tuple[int, int, int]
    discriminator_output: str = "probability"
    init_weights: Callable[[nn.Module], None] | None = None

    def __post_init__(self):
        object.__setattr__(self, "z_shape", _shape("z_shape", self.z_shape, self.name))
        object.__setattr__(self, "image_shape", _shape("image_shape", self.image_shape, self.name))
        if len(self.image_shape) != 3:
            raise GanError(
                f"architecture {self.name!r}: image_shape must be (C, H, W), got {self.image_shape}"
            )
        if self.discriminator_output not in OUTPUT_KINDS:
            raise GanError(
                f"architecture {self.name!r}: discriminator_output must be one of {', '.join(OUTPUT_KINDS)}, "
                f"got {self.discriminator_output!r}"
            )
        if not callable(self.generator) or not (self.discriminator is None or callable(self.discriminator)):
            raise GanError(f"architecture {self.name!r}: generator and discriminator must be callables")

    @property
    def has_discriminator(self) -> bool:
        return self.discriminator is not None

    @property
    def z_size(self) -> int:
        return math.prod(self.z_shape)

    def noise(self, n: int, seed: int) -> torch.Tensor:
        """n draws of z ~ N(0, 1) from `seed` alone, on the CPU (the global RNG is untouched)."""
        return torch.randn(n, *self.z_shape, generator=torch.Generator().manual_seed(seed))

    def build(self, seed: int = 0) -> tuple[nn.Module, nn.Module | None]:
        """Fresh G and D (D is None for a generator-only model), their weights drawn from `seed`,
        leaving the global RNG as it was. A factory that raises is reported in one line."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            generator = self._make("generator", self.generator)
            discriminator = self._make("discriminator", self.discriminator) if self.discriminator else None
            if self.init_weights is not None:
                for module in (generator, discriminator):
                    if module is not None:
                        module.apply(self.init_weights)
        return generator, discriminator

    def _make(self, role: str, factory: Callable[[], nn.Module]) -> nn.Module:
        try:
            module = factory()
        except Exception as error:
            raise GanError(
                f"architecture {self.name!r}: its {role} factory raised {type(error).__name__}: {error}"
            ) from None
        if not isinstance(module, nn.Module):
            raise GanError(
                f"architecture {self.name!r}: its {role} factory returned {type(module).__name__}, "
                "not a torch.nn.Module"
            )
        return module


def _shape(field: str, value, name: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise GanError(f"architecture {name!r}: {field} must be a tuple of ints, got {value!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise GanError(f"architecture {name!r}: {field} must be non-empty and positive, got {shape}")
    return shape


def has_batch_statistics(module: nn.Module | None) -> bool:
    """True when outputs depend on the rest of the batch, as with BatchNorm in train mode."""
    return module is not None and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()
    )
