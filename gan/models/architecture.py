"""`Architecture`: the one object that describes a GAN to the toolkit.

Factories, the inputs G and D take, the image shape, D's output kind travel together, so no other
part of the toolkit needs a constant for an image shape, a z size or a label count: it reads them
from here (`signature`), or from an export's manifest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from gan.errors import GanError, where_raised
from gan.models.inputs import IMAGE, Input, Noise, Signature, check_inputs
from gan.train.config import LOSSES

OUTPUT_KINDS = ("probability", "logits")


@dataclass(frozen=True)
class Architecture:
    """A user's GAN: zero-argument factories for G (and D, or None) plus what they take and make.

    Shapes are per sample, without the batch axis. The classic GAN needs only `z_shape` (G's one
    input, noise) and `image_shape` (what G makes, and D judges). Others declare
    `generator_inputs` (`Noise`, `Labels`, `Image`, in G's argument order) and
    `discriminator_inputs` (names in D's argument order: "image", plus any of G's inputs, as a
    conditional or a pix2pix D takes them); `generator_kwargs` are fixed extra keyword arguments
    of G (e.g. {"truncation": 0.7}), passed on every call and baked into the export. An
    `image_shape` of (C, None, None) is a fully convolutional G; its `Image` input lists the
    sizes to check. A G that draws random numbers inside forward on purpose is declared
    `stochastic`: its exports are compared with it by distribution, not value by value.
    A G or D that returns several tensors (a tuple, list or dict: attention maps, an auxiliary
    classifier's logits) declares which one is G's image (`generator_output`, an index or a key)
    and which is D's score (`discriminator_score`); every output is exported and checked.
    `discriminator_output` says whether D ends in a sigmoid ("probability") or
    not ("logits": a logit, or the raw score of a hinge or WGAN critic); `loss` is what trains
    them ("bce", "hinge" or "wgan-gp", see gan.train.loss). `init_weights`, if given, is applied with
    `Module.apply` to fresh models before training.
    """

    name: str
    generator: Callable[[], nn.Module]
    discriminator: Callable[[], nn.Module] | None
    z_shape: tuple[int, ...] | None = None
    image_shape: tuple[int | None, int | None, int | None] | None = None
    discriminator_output: str = "probability"
    init_weights: Callable[[nn.Module], None] | None = None
    generator_inputs: tuple[Input, ...] = ()
    discriminator_inputs: tuple[str, ...] = (IMAGE,)
    generator_kwargs: Mapping[str, object] = field(default_factory=dict)
    stochastic: bool = False
    loss: str = "bce"
    generator_output: int | str | None = None
    discriminator_score: int | str | None = None

    def __post_init__(self):
        if not self.generator_inputs:
            if self.z_shape is None:
                raise GanError(f"architecture {self.name!r}: give z_shape, or generator_inputs")
            object.__setattr__(self, "generator_inputs", (Noise(_shape("z_shape", self.z_shape, self.name)),))
        object.__setattr__(self, "generator_inputs", tuple(self.generator_inputs))
        object.__setattr__(self, "discriminator_inputs", tuple(self.discriminator_inputs))
        noise = next((i for i in self.generator_inputs if isinstance(i, Noise)), None)
        object.__setattr__(self, "z_shape", noise.shape if noise is not None else None)
        if self.image_shape is None:
            raise GanError(f"architecture {self.name!r}: image_shape (C, H, W) of G's images is required")
        object.__setattr__(self, "image_shape", _shape("image_shape", self.image_shape, self.name, free=True))
        check_inputs(
            self.name, self.generator_inputs, self.discriminator_inputs if self.discriminator else ()
        )
        if len(self.image_shape) != 3:
            raise GanError(
                f"architecture {self.name!r}: image_shape must be (C, H, W), got {self.image_shape}"
            )
        if self.discriminator_output not in OUTPUT_KINDS:
            raise GanError(
                f"architecture {self.name!r}: discriminator_output must be one of {', '.join(OUTPUT_KINDS)}, "
                f"got {self.discriminator_output!r}"
            )
        if self.loss not in LOSSES:
            raise GanError(
                f"architecture {self.name!r}: loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"
            )
        for field_name in ("generator_output", "discriminator_score"):
            value = getattr(self, field_name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
                raise GanError(
                    f"architecture {self.name!r}: {field_name} is an output's index or key, got {value!r}"
                )
        if not callable(self.generator) or not (self.discriminator is None or callable(self.discriminator)):
            raise GanError(f"architecture {self.name!r}: generator and discriminator must be callables")

    @property
    def has_discriminator(self) -> bool:
        return self.discriminator is not None

    @property
    def signature(self) -> Signature:
        """How to call G and D (what an export's manifest records)."""
        return Signature(
            self.generator_inputs,
            self.discriminator_inputs if self.has_discriminator else (),
            self.image_shape,
            tuple(self.generator_kwargs.items()),
            self.stochastic,
            self.generator_output,
            self.discriminator_score if self.has_discriminator else None,
        )

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
            hint = ""
            if isinstance(error, TypeError) and "required positional argument" in str(error):
                hint = (
                    "; the factory is called with no arguments: give "
                    f"functools.partial({_name(factory)}, ...) with the arguments your class needs"
                )
            raise GanError(
                f"architecture {self.name!r}: its {role} factory raised {type(error).__name__}: "
                f"{error}{where_raised(error)}{hint}"
            ) from error
        if not isinstance(module, nn.Module):
            raise GanError(
                f"architecture {self.name!r}: its {role} factory returned {type(module).__name__}, "
                "not a torch.nn.Module"
            )
        return module


def _name(factory) -> str:
    return getattr(factory, "__name__", type(factory).__name__)


def _shape(field_name: str, value, name: str, free: bool = False) -> tuple:
    """A tuple of positive ints; with `free`, None (a size that varies) after the first axis."""
    try:
        shape = tuple(d if free and i > 0 and d is None else int(d) for i, d in enumerate(value))
    except (TypeError, ValueError):
        raise GanError(
            f"architecture {name!r}: {field_name} must be a tuple of ints, got {value!r}"
        ) from None
    if not shape or any(d is not None and d < 1 for d in shape):
        raise GanError(f"architecture {name!r}: {field_name} must be non-empty and positive, got {shape}")
    return shape


def has_batch_statistics(module: nn.Module | None) -> bool:
    """True when outputs depend on the rest of the batch, as with BatchNorm in train mode."""
    return module is not None and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()
    )
