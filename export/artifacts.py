"""Backends for the models of a run or an export dir, labelled by model, as parity and bench use them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from export.backends import Backend, ChainBackend, OnnxRuntimeBackend, eager_backend, torchscript_backend


def with_chain(generator: Backend, discriminator: Backend) -> list[tuple[str, Backend]]:
    return [
        ("generator", generator),
        ("discriminator", discriminator),
        ("chain", ChainBackend(generator, discriminator)),
    ]


def eager_backends(generator: nn.Module, discriminator: nn.Module, device: torch.device):
    return with_chain(eager_backend(generator, device), eager_backend(discriminator, device))


def artifact_path(export_dir: Path, manifest: dict, model: str, fmt: str) -> Path:
    return Path(export_dir) / manifest["models"][model]["files"][fmt]


def torchscript_backends(export_dir: Path, manifest: dict, device: torch.device):
    return with_chain(
        *(
            torchscript_backend(artifact_path(export_dir, manifest, m, "torchscript"), device)
            for m in ("generator", "discriminator")
        )
    )


def onnxruntime_backends(export_dir: Path, manifest: dict, device: torch.device, **options):
    return with_chain(
        *(
            OnnxRuntimeBackend(artifact_path(export_dir, manifest, m, "onnx"), device, **options)
            for m in ("generator", "discriminator")
        )
    )


def artifact_backends(export_dir: Path, manifest: dict, device: torch.device) -> list[tuple[str, Backend]]:
    """TorchScript and ONNX Runtime; on CUDA, ORT both device-resident (IOBinding) and end-to-end."""
    backends = torchscript_backends(export_dir, manifest, device)
    if device.type == "cuda":
        backends += onnxruntime_backends(export_dir, manifest, device, io_binding=True)
        backends += onnxruntime_backends(export_dir, manifest, device, io_binding=False)
    else:
        backends += onnxruntime_backends(export_dir, manifest, device)
    return backends
