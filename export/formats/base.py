"""What an export format is: one module per format writes, describes and names its files, and says
whether this machine can build it (gan.export.formats lists them all).

`gan export` asks each chosen format to `write` every model; a format that fails for one model is
recorded with its reason and the others go on. Its manifest entry (`made_by`) records the versions
and settings that made the file, so a file can be told apart from one made another way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.models.inputs import Signature


@dataclass
class Target:
    """One model to write: the module as exported, seeded example inputs, and what the files must
    say about them (names, free axes), plus the export's own settings."""

    role: str  # "generator" or "discriminator"
    module: nn.Module
    examples: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    free_axes: dict[str, dict[int, str]]
    signature: Signature
    settings: dict = field(default_factory=dict)  # opset, exporter, device, cache dir
    # What one format made that another reuses (the ExportedProgram): made once per model.
    made: dict = field(default_factory=dict, repr=False)


class ExportFormat(ABC):
    name: str  # as --formats and the manifest name it: "torchscript", "onnx", ...
    suffix: str  # the file's ending: ".pt", ".onnx", ".ep.pt2", ".aoti.pt2"
    summary: str
    # Loading it runs code (pickle, TorchScript, a shared library): --untrusted never loads it.
    is_code: bool = True

    @property
    def notices(self) -> list[str]:
        """What the tool that wrote the files said that the user should hear once (deprecations)."""
        return []

    def file_name(self, role: str) -> str:
        return f"{role}{self.suffix}"

    def problem(self) -> str | None:
        """Why this machine cannot build the format (no C++ compiler, ...), or None."""
        return None

    @abstractmethod
    def write(self, target: Target, path: Path) -> tuple[dict, dict]:
        """Writes the file at `path` (atomically). Returns what the manifest records of how it was
        made (`made_by`), and any fields of the model's own manifest entry it fills (ONNX: the
        declared inputs and outputs, the opset). Raises GanError, in one line, when this model
        cannot be written in this format."""
