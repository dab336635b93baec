"""The one backend vocabulary: what a backend is, what it declares it can do, and what it is built
from.

A backend turns a model, or an exported artifact of it, into a callable on a device.
`backend.bind(*inputs)` prepares everything a run needs (device copies, IOBinding, output buffers)
and returns a zero-argument call that runs the model once and returns its output as a torch
tensor. Parity calls it once and compares; bench calls it many times and times it; sample and eval
draw images with it. None of them writes its own loop around a model.

Each backend module declares one or more `BackendSpec`s (gan.export.backends lists them all):
whether it has a forward pass and how it trains, the devices it runs on, where parity checks it,
where bench runs it by default, and why it cannot run here when it cannot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan.errors import GanError
from gan.export.manifest import manifest_signature
from gan.models.inputs import Signature

Run = Callable[[], torch.Tensor]
# What the eager rows need and an export dir alone cannot give.
NEEDS_ARCHITECTURE = "needs the model's Python classes: pass --arch SPEC (or use a run dir)"


class Unavailable(Exception):
    """This backend cannot run here; the message says why."""


class NotApplicable(Exception):
    """This backend has no such workload anywhere; the message says why."""


class Unsupported(Exception):
    """This runtime cannot take this model (an operator or a dynamic shape it lacks), although the
    artifact is sound: its rows say "unsupported here" with the reason, not a parity failure."""


class ArtifactMissing(GanError):
    """The export has no file of this format for this model: exporting it failed (the reason is
    in the manifest), so the rows that read it are errors, and the other rows go on."""


class Backend(ABC):
    name: str
    device: torch.device
    precision: str = "fp32"  # gan.export.precision's names: "int8-static", "bf16", ...
    # True when every run writes its output into the same buffer, so a consumer may bind it once.
    output_is_stable: bool = False

    @abstractmethod
    def bind(self, *inputs: torch.Tensor) -> Run:
        """A call of the model on `inputs` that returns its declared output (G's image, D's score)."""

    def bind_all(self, *inputs: torch.Tensor) -> Callable[[], tuple[torch.Tensor, ...]]:
        """A call that returns every output, the declared one first, for a model that returns
        several (gan.models.outputs); parity compares them all. By default the declared one alone."""
        run = self.bind(*inputs)
        return lambda: (run(),)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.bind(*inputs)()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name} {self.precision} on {self.device})"


@dataclass
class ModelSource:
    """What backends are built from: an export dir's artifacts and/or eager modules.

    `eager` maps "generator" (and "discriminator", when the model has one) to nn.Modules; without
    it (an export dir alone, its Architecture not given) eager rows are unavailable.
    `trust_code` False refuses TorchScript, which is code, not data (see docs/trust.md).
    `signature` says how the models are called; by default the manifest's.
    """

    export_dir: Path | None = None
    manifest: dict | None = None
    eager: dict[str, nn.Module] | None = None
    trust_code: bool = True
    signature: Signature | None = None

    def __post_init__(self):
        if self.signature is None and self.manifest is not None:
            self.signature = manifest_signature(self.manifest)

    @property
    def models(self) -> list[str]:
        """The models present: "generator", and "discriminator" when there is one."""
        if self.manifest is not None:
            return [m for m in ("generator", "discriminator") if m in self.manifest["models"]]
        return [m for m in ("generator", "discriminator") if (self.eager or {}).get(m) is not None]

    def artifact(self, model: str, fmt: str, precision: str = "fp32") -> Path:
        """The file of `model` in format `fmt` ("onnx", "torchscript"), or of its `precision`
        variant (an ONNX file, gan.export.precision)."""
        if self.manifest is None or self.export_dir is None:
            raise Unavailable("needs an export dir (gan export)")
        described = self.manifest["models"][model]
        if precision == "fp32":
            if fmt in described.get("failed", {}):
                raise ArtifactMissing(described["failed"][fmt])
            if fmt not in described["files"]:
                raise Unavailable(
                    f"this export has no {fmt} file (it was made without that format; "
                    f"gan export RUN --formats ...,{fmt} adds it)"
                )
            return Path(self.export_dir) / described["files"][fmt]
        variant = described.get("variants", {}).get(precision)
        if variant is None:
            raise Unavailable(
                f"this export has no {precision} variant of its {model}; "
                f"make one with gan export RUN --precision fp32,{precision}"
            )
        if "onnx" not in described["files"] and fmt == "onnx":
            raise ArtifactMissing(described.get("failed", {}).get("onnx", "no ONNX file"))
        if "file" not in variant:
            raise Unavailable(f"its {precision} {model} was not built: {variant.get('skipped')}")
        return Path(self.export_dir) / variant["file"]

    def exported_formats(self) -> list[str]:
        """The formats the export was asked for (written, or failed with a reason); exports made
        before formats could be chosen have TorchScript and ONNX."""
        if self.manifest is None:
            return []
        return list(self.manifest.get("formats", ["torchscript", "onnx"]))

    def variants(self) -> list[str]:
        """The precision variants this export has a file of, for every model."""
        if self.manifest is None:
            return []
        built = [
            {p for p, v in self.manifest["models"][m].get("variants", {}).items() if "file" in v}
            for m in self.models
        ]
        return [p for p in self.manifest.get("precisions", {}) if all(p in b for b in built)]

    def module(self, model: str) -> nn.Module:
        if not self.eager:
            raise Unavailable(NEEDS_ARCHITECTURE)
        return self.eager[model]


# (source, model, device, options) -> a Backend for that model.
Build = Callable[[ModelSource, str, torch.device, dict], Backend]
# (generator, discriminator, G's example arguments, D's arguments for an image) -> what this
# backend trains in their place. The arguments are as the GAN step calls them: z, and a
# conditional GAN's labels where its models take them.
Wrap = Callable[[nn.Module, nn.Module, tuple, Callable[[torch.Tensor], tuple]], tuple[nn.Module, nn.Module]]


@dataclass(frozen=True)
class Training:
    """How a backend runs the GAN step (gan.train.step) for bench's train workloads."""

    wrap: Wrap | None = None  # None: the modules as they are
    whole_step: bool = False  # the whole iteration as one compiled graph, as `gan train` runs it
    captured: bool = False  # each workload captured into a CUDA graph and replayed
    # Can it differentiate a gradient (a WGAN-GP gradient penalty)? torch.compile's autograd cannot.
    double_backward: bool = True


@dataclass(frozen=True)
class BackendSpec:
    """One backend: its name and what it can do."""

    name: str
    summary: str
    devices: tuple[str, ...]  # device types it runs on
    forward: Build | None  # None: no forward pass (`no_forward` says why)
    training: Training | None  # None: no training path (`no_training` says why)
    parity_on: tuple[str, ...] = ()  # device types on which export/verify check it against eager
    # The precisions it runs: fp32, the export's variant files it reads, or runtime ones (bf16).
    precisions: tuple[str, ...] = ("fp32",)
    bench_on: tuple[str, ...] = ()  # device types on which `gan bench` runs it by default
    no_forward: str = ""
    no_training: str = ""
    # Why it cannot run on this device here (a missing library or provider), or None.
    availability: Callable[[torch.device], str | None] | None = None
    # An optional extra: where it is not installed, parity leaves it out instead of failing.
    optional: bool = False
    # The export format whose files it runs (gan.export.formats); None: the eager modules.
    reads: str | None = None

    def problem(self, device: torch.device) -> str | None:
        """Why this backend cannot run on `device` here, or None when it can be tried."""
        if device.type not in self.devices:
            return f"{self.name} runs on {' or '.join(self.devices)}, not {device.type}"
        return self.availability(device) if self.availability is not None else None
