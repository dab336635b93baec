"""ONNX: the dynamo (torch.export-based) or legacy exporter, validated by onnx.checker
(gan.export.to_onnx). Data, not code: an ONNX file from a stranger is safe to load.

The dynamo exporter takes seconds per model, so its file is cached (gan.export.formats.cache) under
the hash of the model's ExportedProgram, which holds its graph and weights, and of every setting
that shapes the file: re-exporting an unchanged run copies it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import onnx
import torch

from gan.errors import GanError
from gan.export.formats.base import ExportFormat, Target
from gan.export.formats.cache import cache_key, cached_file
from gan.export.formats.exported_program import program_of
from gan.export.to_onnx import DEFAULT_OPSET, export_onnx, onnx_io, validate_onnx
from gan.files.atomic import write_bytes


class OnnxFormat(ExportFormat):
    name, suffix, is_code = "onnx", ".onnx", False
    summary = "ONNX with a free batch axis (and free H and W for image inputs), for ONNX Runtime and OpenVINO"

    def write(self, target: Target, path: Path) -> tuple[dict, dict]:
        settings = target.settings
        exporter, opset = settings.get("exporter", "dynamo"), settings.get("opset", DEFAULT_OPSET)

        def make(destination: Path) -> None:
            export_onnx(
                target.module,
                target.examples,
                destination,
                target.input_names,
                target.output_names,
                free_axes=target.free_axes,
                opset=opset,
                exporter=exporter,
            )

        try:
            key = _cache_key(target, exporter, opset)
            if key is None:
                make(path)
            else:
                write_bytes(path, cached_file("onnx", key, ".onnx", make).read_bytes())
            model = validate_onnx(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        written = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        made_by = {"exporter": exporter, "opset": written, "onnx": onnx.__version__}
        return made_by, {"onnx_declared": onnx_io(model), "opset": written}


def _cache_key(target: Target, exporter: str, opset: int) -> str | None:
    """The dynamo exporter's file is a function of the traced program and these settings; None (no
    caching) for the legacy exporter, which traces by itself, or a model torch.export cannot trace
    (the exporter then tries its own fallbacks)."""
    if exporter != "dynamo":
        return None
    try:
        _, saved = program_of(target)
    except GanError:
        return None
    return cache_key(
        saved,
        {
            "opset": opset,
            "inputs": target.input_names,
            "outputs": target.output_names,
            "free_axes": {
                name: {str(k): v for k, v in axes.items()} for name, axes in target.free_axes.items()
            },
            "versions": [torch.__version__, onnx.__version__, _version("onnxscript")],
        },
    )


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
