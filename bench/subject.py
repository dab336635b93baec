"""What a bench run measures and how: an export dir's artifacts, the eager modules when their
classes are known, the device, threads and stop rule. Each backend, and each train variant, is
built once here and reused by every scenario and batch that needs it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.bench.timing import StopRule
from gan.bench.train_variants import TrainSetup, TrainVariant, make_train_variant
from gan.errors import GanError
from gan.export.backends import (
    Backend,
    BackendSpec,
    ModelSource,
    NotApplicable,
    Unavailable,
    Unsupported,
    build_backends,
)
from gan.export.backends.base import NEEDS_ARCHITECTURE
from gan.export.manifest import manifest_signature
from gan.export.precision import RUNTIME_PRECISIONS
from gan.models.inputs import Signature, as_called
from gan.train.loss import GanLoss


@dataclass
class Subject:
    export_dir: Path
    manifest: dict
    eager: dict[str, nn.Module] | None  # None: the Architecture is unknown, eager rows cannot run
    device: torch.device
    threads: int
    stop_rule: StopRule
    trust_code: bool = True
    _forward: dict[tuple[str, str], dict | Exception] = field(default_factory=dict, repr=False)
    _train: dict[tuple[str, int, str], TrainVariant | Exception] = field(default_factory=dict, repr=False)
    _inputs: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)

    @property
    def has_discriminator(self) -> bool:
        return "discriminator" in self.manifest["models"]

    @property
    def signature(self) -> Signature:
        return manifest_signature(self.manifest)

    def inputs(self, batch: int) -> dict[str, tuple[torch.Tensor, ...]]:
        """Seeded inputs of each model at `batch`, in its argument order (the same for every
        backend); a fully convolutional G's at its first declared size."""
        if batch not in self._inputs:
            signature = self.signature
            size = signature.sizes[0] if signature.sizes else None
            models = ("generator", "discriminator", "chain") if self.has_discriminator else ("generator",)
            self._inputs[batch] = {m: signature.draw(m, batch, 0, size=size) for m in models}
        return self._inputs[batch]

    def forward_backend(self, spec: BackendSpec, model: str, precision: str = "fp32") -> Backend:
        """`spec`'s backend of `model` in `precision`; raises why not, the same way every time."""
        key = (spec.name, precision)
        if key not in self._forward:
            self._forward[key] = _built_or_error(lambda: self._build_forward(spec, precision))
        built, failures = _raise_or_return(self._forward[key])
        if model in failures:  # this model's file failed, or the runtime cannot take it: its rows alone
            raise failures[model]
        return built[model]

    def precisions(self, spec: BackendSpec) -> list[str]:
        """What `spec` is benched in: fp32, each of the export's variants it reads, and what it runs
        reduced without a file (bf16, where the device has it natively; a row says why not)."""
        variants = ModelSource(self.export_dir, self.manifest).variants()
        return [p for p in spec.precisions if p == "fp32" or p in variants or p in RUNTIME_PRECISIONS]

    def train_variant(self, spec: BackendSpec, batch: int, precision: str = "fp32") -> TrainVariant:
        key = (spec.name, batch, precision)
        if key not in self._train:
            self._train[key] = _built_or_error(
                lambda: make_train_variant(spec, self.train_setup(batch), precision=precision)
            )
        return _raise_or_return(self._train[key])

    def train_setup(self, batch: int, device: torch.device | None = None) -> TrainSetup:
        if self.eager is None:
            raise Unavailable(NEEDS_ARCHITECTURE)
        return TrainSetup(
            generator=self.eager["generator"],
            discriminator=self.eager.get("discriminator"),
            # An export of an older toolkit records no loss: its runs all trained with BCE.
            loss=GanLoss(
                self.manifest.get("loss") or "bce", self.manifest["discriminator_output"] or "probability"
            ),
            signature=self.signature,
            batch=batch,
            device=device or self.device,
        )

    def _build_forward(self, spec: BackendSpec, precision: str) -> tuple[dict[str, Backend], dict]:
        # Copies: a backend moves its modules to its device and may wrap them.
        signature = self.signature
        eager = (
            {k: as_called(signature, k, copy.deepcopy(v)) for k, v in self.eager.items()}
            if self.eager
            else None
        )
        source = ModelSource(self.export_dir, self.manifest, eager, trust_code=self.trust_code)
        failures: dict[str, Exception] = {}
        built = build_backends(spec, source, self.device, precision, failures, threads=self.threads)
        return built, failures


def _built_or_error(build):
    try:
        return build()
    except (Unavailable, NotApplicable, Unsupported, GanError) as error:
        return error


def _raise_or_return(built):
    if isinstance(built, Exception):
        raise built
    return built
