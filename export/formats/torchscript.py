"""TorchScript: `torch.jit.trace` of the eval-mode module (gan.export.torchscript). Deprecated by
torch 2.14, and still the file that existing C++ and Python deployments load."""

from __future__ import annotations

from pathlib import Path

import torch

from gan.export.formats.base import ExportFormat, Target
from gan.export.torchscript import export_torchscript
from gan.models.calls import user_code


class TorchScriptFormat(ExportFormat):
    name, suffix = "torchscript", ".pt"
    summary = "torch.jit.trace, saved with torch.jit.save (loads with torch.jit.load, Python or C++)"

    def __init__(self):
        self._notices: list[str] = []  # torch's deprecation notices, for one polite mention

    @property
    def notices(self) -> list[str]:
        return self._notices

    def write(self, target: Target, path: Path) -> tuple[dict, dict]:
        architecture = target.settings.get("architecture", "")
        with user_code(
            architecture, target.role, target.input_names, target.examples, "tracing for TorchScript"
        ):
            # A stochastic G cannot pass the trace check, which compares two runs.
            check = not (target.signature.stochastic and target.role == "generator")
            self._notices += export_torchscript(target.module, target.examples, path, check=check)
        return {"torch": torch.__version__, "traced_at_batch": len(target.examples[0])}, {}
