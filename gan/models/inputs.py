"""What a generator and a discriminator take: named, typed inputs, declared by the Architecture.

G takes any number of them: `Noise` (z), `Labels` (class indices, int64), a source `Image` (an
image-to-image G), each with a name, a per-sample shape and a way to draw seeded examples. D takes
"image" (a real image or G's output) plus any of G's inputs by name (the labels of a conditional
D, the source image of a pix2pix D). The ONNX files, the golden I/O, parity, sample and bench all
use these names and shapes, so nothing else holds a constant for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan.errors import GanError

# D's name for the image it judges: a real one, or G's output (also the ONNX name of G's output).
IMAGE = "image"


@dataclass(frozen=True)
class Noise:
    """z ~ N(0, 1) of a per-sample `shape`."""

    shape: tuple[int, ...]
    name: str = "z"
    dtype = torch.float32

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, *self.shape, generator=generator)


@dataclass(frozen=True)
class Labels:
    """Class indices in [0, num_classes), int64, one per sample."""

    num_classes: int
    name: str = "labels"
    dtype = torch.int64

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Every class as evenly as n allows, in a seeded order, so a sample spans the classes."""
        return (torch.arange(n) % self.num_classes)[torch.randperm(n, generator=generator)]


@dataclass(frozen=True)
class Image:
    """An image input (C, H, W) in [-1, 1], such as the source of an image-to-image G. H and W may
    be None for a fully convolutional G; `sizes` then lists the (H, W) to draw and check."""

    shape: tuple[int | None, int | None, int | None]
    name: str = "source"
    sizes: tuple[tuple[int, int], ...] = ()
    dtype = torch.float32

    def draw(self, n: int, generator: torch.Generator, size: tuple[int, int] | None = None) -> torch.Tensor:
        channels, height, width = self.shape
        height, width = size or (height or self.sizes[0][0], width or self.sizes[0][1])
        return torch.rand(n, channels, height, width, generator=generator) * 2 - 1


Input = Noise | Labels | Image


def check_inputs(architecture_name: str, generator: tuple, discriminator: tuple) -> None:
    """G's inputs have distinct names, none called "image"; D's are "image" or names of G's."""
    names = [i.name for i in generator]
    problem = None
    if not generator:
        problem = "the generator must take at least one input"
    elif len(set(names)) != len(names):
        problem = f"the generator's inputs must have distinct names, got {names}"
    elif IMAGE in names:
        problem = f"a generator input cannot be named {IMAGE!r}: that is the image D judges"
    elif discriminator and (unknown := [n for n in discriminator if n != IMAGE and n not in names]):
        problem = (
            f"the discriminator takes {unknown}, which are neither {IMAGE!r} nor inputs of the generator"
        )
    elif discriminator and IMAGE not in discriminator:
        problem = f"the discriminator's inputs must include {IMAGE!r}, got {list(discriminator)}"
    for spec in generator:
        if isinstance(spec, Image) and None in spec.shape[1:] and not spec.sizes:
            problem = f"input {spec.name!r} has a free height or width; give the sizes to check"
        if isinstance(spec, Labels) and spec.num_classes < 2:
            problem = f"input {spec.name!r} needs at least 2 classes, got {spec.num_classes}"
    if problem:
        raise GanError(f"architecture {architecture_name!r}: {problem}")


@dataclass(frozen=True)
class Signature:
    """How to call G and D: G's inputs in order, D's inputs by name ("image" or one of G's), the
    shape of G's images, and fixed extra keyword arguments of G. An Architecture declares it and
    an export's manifest records it, so the exported models are called the same way as the eager
    ones, anywhere."""

    generator_inputs: tuple[Input, ...]
    discriminator_inputs: tuple[str, ...]
    image_shape: tuple[int | None, int | None, int | None]
    generator_kwargs: tuple[tuple[str, object], ...] = ()
    stochastic: bool = False  # G draws random numbers inside forward, on purpose
    # Which of G's outputs is the image and which of D's is the score, for models that return
    # several (gan.models.outputs); None: the model returns one tensor.
    generator_output: int | str | None = None
    discriminator_score: int | str | None = None

    def selector(self, role: str) -> int | str | None:
        """The declared output of "generator", or of "discriminator" and "chain" (D's score)."""
        return self.generator_output if role == "generator" else self.discriminator_score

    def inputs(self, role: str) -> tuple[Input, ...]:
        """The declared inputs of "generator", "discriminator" or "chain" (D(G(...)) takes G's)."""
        if role in ("generator", "chain"):
            return self.generator_inputs
        by_name = {spec.name: spec for spec in self.generator_inputs}
        image = Image(self.image_shape, IMAGE, self.sizes)
        return tuple(image if name == IMAGE else by_name[name] for name in self.discriminator_inputs)

    @property
    def sizes(self) -> tuple[tuple[int, int], ...]:
        """The (H, W) a fully convolutional G is checked at; () when its images have one size."""
        return next((s.sizes for s in self.generator_inputs if isinstance(s, Image) and s.sizes), ())

    def draw(
        self, role: str, n: int, seed: int, size: tuple[int, int] | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Seeded example inputs of `role`, never constant: noise ~ N(0, 1), images ~ U(-1, 1) (the
        range a tanh G makes), labels spanning the classes."""
        generator = torch.Generator().manual_seed(seed)
        drawn = []
        for spec in self.inputs(role):
            sized = isinstance(spec, Image) and None in spec.shape[1:]
            drawn.append(spec.draw(n, generator, size) if sized else spec.draw(n, generator))
        return tuple(drawn)

    def discriminator_args(self, generator_args: tuple, image: torch.Tensor) -> tuple:
        """D's arguments for the chain D(G(...)): G's output as "image", the rest passed through."""
        by_name = {spec.name: arg for spec, arg in zip(self.generator_inputs, generator_args)}
        return tuple(image if name == IMAGE else by_name[name] for name in self.discriminator_inputs)

    @property
    def plain(self) -> bool:
        """One noise input and D on the image alone: the classic GAN."""
        return (
            len(self.generator_inputs) == 1
            and isinstance(self.generator_inputs[0], Noise)
            and self.discriminator_inputs == (IMAGE,)
        )

    def to_dict(self) -> dict:
        return {
            "generator_inputs": [_input_dict(spec) for spec in self.generator_inputs],
            "discriminator_inputs": list(self.discriminator_inputs),
            "image_shape": list(self.image_shape),
            "generator_kwargs": {k: v for k, v in self.generator_kwargs},
            "stochastic": self.stochastic,
            "generator_output": self.generator_output,
            "discriminator_score": self.discriminator_score,
        }

    @classmethod
    def from_dict(cls, values: dict) -> Signature:
        """Raises ValueError/KeyError/TypeError on a malformed record (a manifest's callers turn
        that into one line)."""
        kwargs = values.get("generator_kwargs", {})
        if not isinstance(kwargs, dict) or not all(
            isinstance(v, (int, float, bool, str)) for v in kwargs.values()
        ):
            raise ValueError("generator_kwargs must map names to numbers, booleans or strings")
        return cls(
            generator_inputs=tuple(_input_from(item) for item in values["generator_inputs"]),
            discriminator_inputs=tuple(str(n) for n in values["discriminator_inputs"]),
            image_shape=_dims(values["image_shape"], 3, free=True),
            generator_kwargs=tuple(kwargs.items()),
            stochastic=values.get("stochastic", False) is True,
            generator_output=_selector(values.get("generator_output")),
            discriminator_score=_selector(values.get("discriminator_score")),
        )


def _selector(value) -> int | str | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"an output is named by an index or a key, got {value!r}")


def _input_dict(spec: Input) -> dict:
    if isinstance(spec, Labels):
        return {"kind": "labels", "name": spec.name, "num_classes": spec.num_classes}
    if isinstance(spec, Image):
        return {
            "kind": "image",
            "name": spec.name,
            "shape": list(spec.shape),
            "sizes": [list(s) for s in spec.sizes],
        }
    return {"kind": "noise", "name": spec.name, "shape": list(spec.shape)}


def _input_from(item: dict) -> Input:
    kind, name = item["kind"], str(item["name"])
    if kind == "labels":
        classes = item["num_classes"]
        if not isinstance(classes, int) or not 2 <= classes <= 1 << 20:
            raise ValueError(f"num_classes of {name!r} must be a whole number from 2, got {classes!r}")
        return Labels(classes, name)
    if kind == "image":
        sizes = tuple(tuple(_dims(size, 2)) for size in item.get("sizes", []))
        return Image(_dims(item["shape"], 3, free=True), name, sizes)
    if kind == "noise":
        return Noise(_dims(item["shape"], None), name)
    raise ValueError(f"unknown input kind {kind!r}")


def _dims(values, length: int | None, free: bool = False) -> tuple:
    """A list of positive ints (None allowed with `free`) of `length`, as a tuple."""
    values = list(values)
    if (length is not None and len(values) != length) or not values:
        raise ValueError(f"expected {length or 'some'} dimensions, got {values}")
    for d in values:
        if not ((free and d is None) or (isinstance(d, int) and 0 < d < 1 << 20)):
            raise ValueError(f"dimensions must be positive ints, got {values}")
    return tuple(values)


class WithKeywords(torch.nn.Module):
    """G called with its fixed keyword arguments (truncation=0.7, ...), as one module that tracing,
    export and every backend see. The parameters are G's own."""

    def __init__(self, module: torch.nn.Module, kwargs: tuple[tuple[str, object], ...]):
        super().__init__()
        self.module, self.kwargs = module, dict(kwargs)

    def forward(self, *args):
        return self.module(*args, **self.kwargs)


def as_called(signature: Signature, role: str, module: torch.nn.Module) -> torch.nn.Module:
    """`module` as the toolkit trains, samples and chains it: G with its fixed keyword arguments,
    returning its declared output alone (G's image, D's score) when it returns several."""
    from gan.models.outputs import SelectedOutput

    module = _with_keywords(signature, role, module)
    selector = signature.selector(role)
    return module if selector is None else SelectedOutput(module, selector, role)


def as_exported(signature: Signature, role: str, module: torch.nn.Module) -> torch.nn.Module:
    """`module` as it is exported and checked: like `as_called`, but returning every output, the
    declared one first, when it returns several."""
    from gan.models.outputs import AllOutputs

    module = _with_keywords(signature, role, module)
    selector = signature.selector(role)
    return module if selector is None else AllOutputs(module, selector, role)


def _with_keywords(signature: Signature, role: str, module: torch.nn.Module) -> torch.nn.Module:
    if role == "generator" and signature.generator_kwargs:
        return WithKeywords(module, signature.generator_kwargs)
    return module
