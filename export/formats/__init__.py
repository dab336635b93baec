"""Every export format, in one list: `gan export --formats` picks from it, the manifest names its
files by it, and the backends that read them (gan.export.backends) follow it. Adding a format is
one module with its `ExportFormat`, a line here, and its tests (see base.py)."""

from __future__ import annotations

import os

from gan.errors import EnvironmentMissing, GanError
from gan.export.formats.aoti import AotiFormat
from gan.export.formats.base import ExportFormat, Target
from gan.export.formats.exported_program import ExportedProgramFormat
from gan.export.formats.onnx import OnnxFormat
from gan.export.formats.torchscript import TorchScriptFormat

FORMATS: tuple[type[ExportFormat], ...] = (TorchScriptFormat, OnnxFormat, ExportedProgramFormat, AotiFormat)
NAMES = tuple(f.name for f in FORMATS)
# What --untrusted never loads: files whose loading runs code (pickle, TorchScript, native code).
CODE_FORMATS = tuple(f.name for f in FORMATS if f.is_code)
# Where --formats is not given: a comma list (a CI that never needs a package sets it), else every
# format this machine can build.
FORMATS_VARIABLE = "GAN_EXPORT_FORMATS"


def choose_formats(names: str | None = None) -> tuple[list[ExportFormat], dict[str, str]]:
    """The formats to write, fresh, and {name: why not} of the default ones this machine cannot
    build. Named explicitly (`names`, or $GAN_EXPORT_FORMATS) and impossible: EnvironmentMissing."""
    names = names if names is not None else os.environ.get(FORMATS_VARIABLE)
    if names is None:
        chosen = [cls() for cls in FORMATS]
        skipped = {f.name: reason for f in chosen if (reason := f.problem()) is not None}
        return [f for f in chosen if f.name not in skipped], skipped
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in NAMES]
    if unknown or not wanted:
        raise GanError(f"unknown format(s) {unknown or names!r}; choose from {', '.join(NAMES)}")
    chosen = [cls() for cls in FORMATS if cls.name in wanted]
    for fmt in chosen:
        if (reason := fmt.problem()) is not None:
            raise EnvironmentMissing(f"cannot export {fmt.name}: {reason}")
    return chosen, {}


__all__ = ["CODE_FORMATS", "FORMATS", "FORMATS_VARIABLE", "NAMES", "ExportFormat", "Target", "choose_formats"]
