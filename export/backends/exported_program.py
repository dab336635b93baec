"""The exported ExportedProgram (`.ep.pt2`, torch.export.save) loaded with `torch.export.load` and
run as the module it unflattens to. `torch.export.load` unpickles parts of the file, so it is
loaded only from a source the user trusts; it has no training path here."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from gan.errors import GanError
from gan.export.backends.base import Backend, BackendSpec, ModelSource, Unavailable
from gan.export.backends.eager import TorchBackend

UNTRUSTED = "an ExportedProgram is unpickled when loaded (code); --untrusted loads only ONNX, JSON and npz"


def load_program(path: Path) -> torch.nn.Module:
    if not Path(path).is_file():
        raise GanError(f"ExportedProgram file {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.load(str(path)).module()
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise GanError(
            f"{path} is not a loadable ExportedProgram (corrupt, or from another torch?): {first}"
        ) from None


class ExportedProgramBackend(TorchBackend):
    """An ExportedProgram's module: already in inference form, it takes no .eval() (torch refuses it)."""

    def __init__(self, module: torch.nn.Module, device: torch.device):
        self.name, self.device, self.autocast = "exported-program", torch.device(device), False
        self.module = module.to(self.device)


def _forward(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    if not source.trust_code:
        raise Unavailable(UNTRUSTED)
    return ExportedProgramBackend(load_program(source.artifact(model, "exported-program")), device)


EXPORTED_PROGRAM = BackendSpec(
    name="exported-program",
    summary="the exported .ep.pt2 (torch.export.load)",
    devices=("cpu", "cuda"),
    forward=_forward,
    training=None,
    no_training="an ExportedProgram is an inference graph here; see the eager and compile rows",
    parity_on=("cpu", "cuda"),
    bench_on=("cpu", "cuda"),
    reads="exported-program",
)
