"""ExportedProgram: `torch.export.export` of the eval-mode module with the same free axes as the
ONNX file (batch; height and width of free-size images), saved with `torch.export.save`. It is
what torch.compile, AOTInductor and ExecuTorch start from. `torch.export.load` unpickles parts of
the file, so it is code: --untrusted never loads it."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from gan.errors import GanError
from gan.export.formats.base import ExportFormat, Target
from gan.export.to_onnx import dynamic_shapes
from gan.files.atomic import write_bytes


def program_of(target: Target) -> tuple[torch.export.ExportedProgram, bytes]:
    """The target's ExportedProgram and its `torch.export.save` bytes, traced once per model and
    shared by every format that starts from it (this one, AOTInductor, the ONNX cache key); a
    failure is kept too, so it is reported the same way without tracing again."""
    if "program" not in target.made:
        try:
            program = export_program(target)
            buffer = io.BytesIO()  # written by Python: a full disk is an OSError, not a native abort
            torch.export.save(program, buffer)
            target.made["program"] = (program, buffer.getvalue())
        except GanError as error:
            target.made["program"] = error
    if isinstance(target.made["program"], GanError):
        raise target.made["program"]
    return target.made["program"]


def export_program(target: Target) -> torch.export.ExportedProgram:
    """The module as torch.export traces it, its free axes symbolic; one line when it cannot be."""
    shapes = dynamic_shapes(target.module, target.free_axes, target.input_names)
    try:
        try:
            return _export(target, shapes)
        except Exception as error:
            if "Constraints violated" not in str(error):
                raise
            # A U-Net's sizes must be multiples of its downsampling (height = 4 * _height): let
            # torch.export infer those relations on the same free axes, as the ONNX exporter does.
            return _export(target, _auto(shapes))
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise GanError(f"torch.export failed: {type(error).__name__}: {first}") from None


def _export(target: Target, shapes) -> torch.export.ExportedProgram:
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        return torch.export.export(target.module.eval(), tuple(target.examples), dynamic_shapes=shapes)


def _auto(shapes):
    """The same dynamic_shapes with every Dim left for torch.export to work out (Dim.AUTO)."""
    if isinstance(shapes, dict) and all(isinstance(k, int) for k in shapes):
        return dict.fromkeys(shapes, torch.export.Dim.AUTO)
    if isinstance(shapes, dict):
        return {k: _auto(v) for k, v in shapes.items()}
    return type(shapes)(_auto(v) for v in shapes)


class ExportedProgramFormat(ExportFormat):
    name, suffix = "exported-program", ".ep.pt2"
    summary = "torch.export's ExportedProgram (torch.export.save), the input to AOTInductor and ExecuTorch"

    def write(self, target: Target, path: Path) -> tuple[dict, dict]:
        _, saved = program_of(target)
        write_bytes(path, saved)
        return {
            "torch": torch.__version__,
            "dynamic": sorted({s for a in target.free_axes.values() for s in a.values()}),
        }, {}
