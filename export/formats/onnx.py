"""ONNX: the dynamo (torch.export-based) or legacy exporter, validated by onnx.checker
(gan.export.to_onnx). Data, not code: an ONNX file from a stranger is safe to load."""

from __future__ import annotations

from pathlib import Path

import onnx

from gan.export.formats.base import ExportFormat, Target
from gan.export.to_onnx import DEFAULT_OPSET, export_onnx, onnx_io, validate_onnx


class OnnxFormat(ExportFormat):
    name, suffix, is_code = "onnx", ".onnx", False
    summary = "ONNX with a free batch axis (and free H and W for image inputs), for ONNX Runtime and OpenVINO"

    def write(self, target: Target, path: Path) -> tuple[dict, dict]:
        settings = target.settings
        exporter, opset = settings.get("exporter", "dynamo"), settings.get("opset", DEFAULT_OPSET)
        try:
            export_onnx(
                target.module,
                target.examples,
                path,
                target.input_names,
                target.output_names,
                free_axes=target.free_axes,
                opset=opset,
                exporter=exporter,
            )
            model = validate_onnx(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        written = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        made_by = {"exporter": exporter, "opset": written, "onnx": onnx.__version__}
        return made_by, {"onnx_declared": onnx_io(model), "opset": written}
