"""What a bench run measures and how: an export dir's artifacts, the eager modules when their
classes are known, the device, threads and stop rule. Each backend, and each train variant, is
built once here and reused by every scenario and batch that needs it."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.bench.footprint import MB, MemoryProbe
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
from gan.export.manifest import manifest_signature, read_manifest
from gan.export.precision import RUNTIME_PRECISIONS
from gan.models.architecture import Architecture
from gan.models.inputs import Signature, as_called
from gan.models.spec import load_architecture
from gan.runs.checkpoint import CHECKPOINT_JSON, load_checkpoint
from gan.runs.trained import trained_models
from gan.train.loss import GanLoss


@dataclass(frozen=True)
class Load:
    """One model's load: from its file (or, eager, the modules in memory) to ready to run."""

    ms: float
    rss_mb: float | None  # resident memory it added; None outside a bench's fresh process


@dataclass
class Subject:
    export_dir: Path
    manifest: dict
    eager: dict[str, nn.Module] | None  # None: the Architecture is unknown, eager rows cannot run
    device: torch.device
    threads: int
    stop_rule: StopRule
    trust_code: bool = True
    # Set in a bench's fresh process (gan.bench.isolated): rows then carry memory figures.
    memory: MemoryProbe | None = None
    _loads: dict[tuple, dict[str, Load]] = field(default_factory=dict, repr=False)
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

    def load_of(self, spec: BackendSpec, model: str, precision: str = "fp32") -> Load | None:
        """How long `model`'s backend took to load and the memory it took (the chain: G's and D's
        together), once `forward_backend` has built it; None when it did not build."""
        loads = self._loads.get((spec.name, precision), {})
        parts = _parts(model)
        if not all(part in loads for part in parts):
            return None
        ms = sum(loads[part].ms for part in parts)
        rss = [loads[part].rss_mb for part in parts]
        return Load(ms, None if None in rss else sum(rss))

    def artifact_mb(self, spec: BackendSpec, model: str, precision: str = "fp32") -> float | None:
        """The size of the files `spec` reads for `model` (the chain: G's and D's); for the eager
        modules (eager, compile), their weights as a saved state_dict holds them, which is what
        deploying them ships; None for a file this export lacks."""
        parts = _parts(model)
        if spec.reads is None:
            if not self.eager or any(part not in self.eager for part in parts):
                return None
            return sum(_state_bytes(self.eager[part]) for part in parts) / MB
        source = ModelSource(self.export_dir, self.manifest)
        file_precision = precision if precision in source.variants() else "fp32"  # bf16 has no file
        try:
            return (
                sum(source.artifact(part, spec.reads, file_precision).stat().st_size for part in parts) / MB
            )
        except (Unavailable, GanError, OSError, KeyError):  # KeyError: a model this export lacks
            return None

    def precisions(self, spec: BackendSpec) -> list[str]:
        """What `spec` is benched in: fp32, each of the export's variants it reads, and what it runs
        reduced without a file (bf16, where the device has it natively; a row says why not)."""
        variants = ModelSource(self.export_dir, self.manifest).variants()
        return [p for p in spec.precisions if p == "fp32" or p in variants or p in RUNTIME_PRECISIONS]

    def train_variant(self, spec: BackendSpec, batch: int, precision: str = "fp32") -> TrainVariant:
        key = (spec.name, batch, precision)
        if key not in self._train:
            self._train[key], load = self._measured(
                lambda: _built_or_error(
                    lambda: make_train_variant(spec, self.train_setup(batch), precision=precision)
                )
            )
            self._loads[key] = {"train": load}
        return _raise_or_return(self._train[key])

    def train_load_of(self, spec: BackendSpec, batch: int, precision: str = "fp32") -> Load | None:
        """How long building the training step took (models copied, optimizers made) and its memory."""
        return self._loads.get((spec.name, batch, precision), {}).get("train")

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

    def _measured(self, build):
        """What `build()` returns, and its Load: how long it took and the memory it added."""
        rss_before = self.memory.rss_mb() if self.memory else None
        began = time.perf_counter()
        built = build()
        ms = (time.perf_counter() - began) * 1e3
        return built, Load(ms, self.memory.rss_mb() - rss_before if self.memory else None)

    def _build_forward(self, spec: BackendSpec, precision: str) -> tuple[dict[str, Backend], dict]:
        # A backend of the eager modules gets copies (it moves them to its device and may wrap
        # them), made as each model loads, so that the copy is that model's load and memory.
        eager = {} if self.eager and spec.reads is None else None
        source = ModelSource(self.export_dir, self.manifest, eager, trust_code=self.trust_code)
        loads = self._loads.setdefault((spec.name, precision), {})

        def load(model: str, build) -> Backend:
            if eager is not None:
                eager[model] = as_called(self.signature, model, copy.deepcopy(self.eager[model]))
            return build()

        def each(model: str, build) -> Backend:
            backend, loads[model] = self._measured(lambda: load(model, build))
            return backend

        failures: dict[str, Exception] = {}
        built = build_backends(spec, source, self.device, precision, failures, each, threads=self.threads)
        return built, failures


def _built_or_error(build):
    try:
        return build()
    except (Unavailable, NotApplicable, Unsupported, GanError) as error:
        return error


def _parts(model: str) -> tuple[str, ...]:
    """The models a workload's row loads: the chain, D(G(z)), loads both."""
    return ("generator", "discriminator") if model == "chain" else (model,)


def _state_bytes(module: nn.Module) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in module.state_dict().values())


def _raise_or_return(built):
    if isinstance(built, Exception):
        raise built
    return built


@dataclass(frozen=True)
class SubjectSpec:
    """How to open a Subject again in another process: everything in it pickles."""

    export_dir: Path
    arch: str | None  # --arch; None: the manifest's, when it names installed code
    device: torch.device
    threads: int
    stop_rule: StopRule
    trust_code: bool = True


def open_subject(spec: SubjectSpec) -> Subject:
    """The export dir's manifest and artifacts, and its eager modules when their Architecture is
    known: with the trained weights of its run dir when that is here (timing does not depend on
    the weights, memory on their number only, but a user expects their own model)."""
    manifest = read_manifest(spec.export_dir)
    how = {"device": spec.device, "threads": spec.threads, "stop_rule": spec.stop_rule}
    architecture = _architecture_for(manifest, spec.arch)
    if architecture is None:
        return Subject(Path(spec.export_dir), manifest, None, trust_code=spec.trust_code, **how)
    generator, discriminator = architecture.build(seed=0)
    run_dir = Path(manifest["source"].get("run_dir") or "")
    if (run_dir / CHECKPOINT_JSON).exists():
        generator, discriminator = trained_models(load_checkpoint(run_dir), architecture)
    models = {"generator": generator, "discriminator": discriminator}
    eager = {name: module for name, module in models.items() if module is not None}
    return Subject(Path(spec.export_dir), manifest, eager, trust_code=spec.trust_code, **how)


def _architecture_for(manifest: dict, spec: str | None) -> Architecture | None:
    """The user's --arch, or the manifest's when it names installed code (a built-in or entry
    point); a file path in a manifest is never imported on its own, since that runs its code."""
    if spec is None:
        spec = manifest["arch"].get("spec")
        if not spec or ":" in spec:
            return None
    architecture, _ = load_architecture(spec)
    exported = manifest_signature(manifest)
    if architecture.signature.to_dict() != exported.to_dict():
        ours, theirs = _calls(architecture.signature), _calls(exported)
        raise GanError(f"--arch {spec} is called as {ours}, but the export as {theirs}")
    return architecture


def _calls(signature: Signature) -> str:
    """G(z (100,)) -> (1, 28, 28): how a signature reads in one line."""
    inputs = ", ".join(f"{spec.name} {tuple(spec.shape)}" for spec in signature.generator_inputs)
    return f"G({inputs}) -> {tuple(signature.image_shape)}"
