"""The one backend registry: a name -> a factory with its availability check.

Parity, bench and sample all ask it for backends by name. A factory builds one backend per model of
a `ModelSource` (the generator, the discriminator when there is one) plus the chain D(G(z)), or
raises `Unavailable` with a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan.errors import GanError
from gan.export.backends import (
    Backend,
    ChainBackend,
    OnnxRuntimeBackend,
    TorchBackend,
    cuda_provider_problem,
    torchscript_backend,
)


class Unavailable(Exception):
    """This backend cannot run here; the message says why."""


class NotApplicable(Exception):
    """This backend has no such workload anywhere; the message says why."""


@dataclass
class ModelSource:
    """What backends are built from: an export dir's artifacts and/or eager modules.

    `eager` maps "generator" (and "discriminator", when the model has one) to nn.Modules; without
    it (an export dir alone, its Architecture not given) eager rows are unavailable.
    `trust_code` False refuses TorchScript, which is code, not data (see the README's threat model).
    """

    export_dir: Path | None = None
    manifest: dict | None = None
    eager: dict[str, nn.Module] | None = None
    trust_code: bool = True

    @property
    def models(self) -> list[str]:
        """The models present: "generator", and "discriminator" when there is one."""
        if self.manifest is not None:
            return [m for m in ("generator", "discriminator") if m in self.manifest["models"]]
        return [m for m in ("generator", "discriminator") if (self.eager or {}).get(m) is not None]

    def artifact(self, model: str, fmt: str) -> Path:
        if self.manifest is None or self.export_dir is None:
            raise Unavailable("needs an export dir (gan export)")
        return Path(self.export_dir) / self.manifest["models"][model]["files"][fmt]


Build = Callable[[ModelSource, str, torch.device, dict], Backend]


@dataclass(frozen=True)
class BackendKind:
    name: str
    devices: tuple[str, ...]
    build: Build  # (source, model, device, options) -> Backend
    summary: str

    def problem(self, device: torch.device) -> str | None:
        if device.type not in self.devices:
            return f"{self.name} runs on {' or '.join(self.devices)}, not {device.type}"
        if self.name.startswith("onnxruntime") and device.type == "cuda":
            return cuda_provider_problem()
        return None


def _eager(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    if not source.eager:
        raise Unavailable("needs the model's Architecture: pass --arch SPEC (or use a run dir)")
    return TorchBackend("eager", source.eager[model], device)


def _torchscript(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    if not source.trust_code:
        raise Unavailable("TorchScript files are code; pass --trust-code to load them from this dir")
    return torchscript_backend(source.artifact(model, "torchscript"), device)


def _compile(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    module = _eager(source, model, device, options).module
    return TorchBackend("compile", torch.compile(module), device)


def _cudagraph(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    from gan.export.cuda_graph import CudaGraphBackend

    return CudaGraphBackend(_eager(source, model, device, options).module, device)


def _onnxruntime(mode: str) -> Build:
    def build(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
        threads = options.get("threads")
        return OnnxRuntimeBackend(
            source.artifact(model, "onnx"),
            device,
            io_binding=None if mode == "" else mode != "numpy",
            cuda_graph=mode == "cudagraph",
            intra_op_threads=threads,
            inter_op_threads=1 if threads else None,
        )

    return build


BACKENDS = {
    kind.name: kind
    for kind in (
        BackendKind("eager", ("cpu", "cuda"), _eager, "the nn.Modules as they are"),
        BackendKind("torchscript", ("cpu", "cuda"), _torchscript, "the exported .pt (torch.jit)"),
        BackendKind(
            "onnxruntime", ("cpu", "cuda"), _onnxruntime(""), "the exported .onnx; CPU provider on cpu"
        ),
        BackendKind(
            "onnxruntime-iobinding",
            ("cuda",),
            _onnxruntime("iobinding"),
            "ORT CUDA, inputs and outputs bound as torch CUDA tensors",
        ),
        BackendKind(
            "onnxruntime-numpy", ("cuda",), _onnxruntime("numpy"), "ORT CUDA, numpy in and out (end to end)"
        ),
        BackendKind(
            "onnxruntime-cudagraph",
            ("cuda",),
            _onnxruntime("cudagraph"),
            "ORT CUDA with enable_cuda_graph (fixed shapes and addresses)",
        ),
        BackendKind("compile", ("cpu", "cuda"), _compile, "torch.compile of the modules"),
        BackendKind("cudagraph", ("cuda",), _cudagraph, "CUDA graph of the eager forward"),
    )
}
# What parity checks on each device (eager only when the modules are at hand).
PARITY_BACKENDS = {
    "cpu": ("eager", "torchscript", "onnxruntime"),
    "cuda": ("eager", "torchscript", "onnxruntime-iobinding", "onnxruntime-numpy"),
}


def backend_kind(name: str) -> BackendKind:
    try:
        return BACKENDS[name]
    except KeyError:
        raise GanError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


def build_backends(name: str, source: ModelSource, device: torch.device, **options) -> dict[str, Backend]:
    """The backend `name` for every model of `source`, plus "chain" (D(G(z))) when there is a D.
    Raises Unavailable (or GanError for a broken artifact) when it cannot run here."""
    kind = backend_kind(name)
    if (problem := kind.problem(device)) is not None:
        raise Unavailable(problem)
    built = {model: kind.build(source, model, device, options) for model in source.models}
    if "discriminator" in built:
        built["chain"] = ChainBackend(built["generator"], built["discriminator"])
    return built
