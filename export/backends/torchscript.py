"""TorchScript: the exported `.pt` (`torch.jit.trace` of the eval-mode modules) for forward, and
modules traced in train mode, trained with autograd and the same Adam, for the train workloads.
A `.pt` file is code, so it is loaded only from a source the user trusts."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.parametrize import is_parametrized

from gan.errors import GanError
from gan.export.backends.base import Backend, BackendSpec, ModelSource, Training, Unavailable
from gan.export.backends.eager import TorchBackend

UNTRUSTED = "TorchScript files are code; --untrusted loads only ONNX, JSON and npz from this dir"


def load_torchscript(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    if not Path(path).is_file():
        raise GanError(f"TorchScript file {path} does not exist")
    try:
        with warnings.catch_warnings():
            # torch 2.14 deprecates TorchScript; `gan export` says so once, loading need not repeat it.
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location=device)
    except Exception as error:  # torch raises RuntimeError/ValueError/zip errors for bad files
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GanError(
            f"{path} is not a loadable TorchScript file (corrupt or truncated?): {first}"
        ) from None


def torchscript_backend(path: Path, device: torch.device) -> TorchBackend:
    return TorchBackend("torchscript", load_torchscript(path, device), device)


def _forward(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    if not source.trust_code:
        raise Unavailable(UNTRUSTED)
    return torchscript_backend(source.artifact(model, "torchscript"), device)


def _traced(generator: nn.Module, discriminator: nn.Module, g_args: tuple, d_args):
    if any(is_parametrized(m) for model in (generator, discriminator) for m in model.modules()):
        raise Unavailable(
            "a traced spectral norm (or other parametrization) cannot train: the trace records its "
            "power iteration with out= ops that autograd refuses; see the eager and compile rows"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        generator = torch.jit.trace(generator, g_args, check_trace=False)
        with torch.no_grad():
            example = generator(*g_args)
        return generator, torch.jit.trace(discriminator, d_args(example), check_trace=False)


TORCHSCRIPT = BackendSpec(
    name="torchscript",
    summary="the exported .pt (torch.jit)",
    devices=("cpu", "cuda"),
    forward=_forward,
    training=Training(wrap=_traced),
    parity_on=("cpu", "cuda"),
    bench_on=("cpu", "cuda"),
    reads="torchscript",
)
