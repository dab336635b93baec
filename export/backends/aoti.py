"""The exported AOTInductor package (`.aoti.pt2`) loaded with `torch._inductor.aoti_load_package`:
compiled ahead of time for the device it was exported on, it runs there alone. It holds a shared
library, so loading it runs native code: it is loaded only from a source the user trusts, never
with --untrusted. Inference only."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from gan.errors import GanError
from gan.export.backends.base import Backend, BackendSpec, ModelSource, Run, Unavailable
from gan.models.outputs import as_tuple

UNTRUSTED = "an AOTInductor package holds a shared library (native code); --untrusted never loads it"


class AotiBackend(Backend):
    def __init__(self, path: Path, device: torch.device):
        self.name, self.device, self.path = "aoti", torch.device(device), Path(path)
        if not self.path.is_file():
            raise GanError(f"AOTInductor package {self.path} does not exist")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.runner = torch._inductor.aoti_load_package(str(self.path))
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            raise GanError(
                f"{self.path} is not a loadable AOTInductor package "
                f"(corrupt, or built by another torch?): {first}"
            ) from None

    def bind(self, *inputs: torch.Tensor) -> Run:
        run = self.bind_all(*inputs)
        return lambda: run()[0]

    def bind_all(self, *inputs: torch.Tensor):
        inputs = tuple(x.to(self.device).contiguous() for x in inputs)
        runner = self.runner

        def run() -> tuple[torch.Tensor, ...]:
            with torch.inference_mode():
                return as_tuple(runner(*inputs))

        return run


def _forward(source: ModelSource, model: str, device: torch.device, options: dict) -> Backend:
    if not source.trust_code:
        raise Unavailable(UNTRUSTED)
    made_by = source.manifest["models"][model].get("made_by", {}).get("aoti", {})
    built_for = made_by.get("device", "cpu")
    if device.type != built_for:
        raise Unavailable(f"this AOTInductor package was compiled for {built_for}, not {device.type}")
    path = source.artifact(model, "aoti")
    # A package holds code compiled against one torch's ABI: another torch may crash loading it.
    if made_by.get("torch") not in (None, torch.__version__):
        raise GanError(
            f"{path.name} was compiled by torch {made_by['torch']}, and this is torch {torch.__version__}: "
            "re-export it here (gan export RUN --formats ...,aoti)"
        )
    return AotiBackend(path, device)


AOTI = BackendSpec(
    name="aoti",
    summary="the exported AOTInductor package .aoti.pt2 (aoti_load_package), for its export's device",
    devices=("cpu", "cuda"),
    forward=_forward,
    training=None,
    no_training="an AOTInductor package is compiled for inference only",
    parity_on=("cpu", "cuda"),
    bench_on=("cpu", "cuda"),
    reads="aoti",
)
