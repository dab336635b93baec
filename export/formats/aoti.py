"""AOTInductor: the ExportedProgram compiled ahead of time into a package (a shared library plus
the weights) for the export's device, with `torch._inductor.aoti_compile_and_package`. Python loads
it with `torch._inductor.aoti_load_package`, C++ with `torch::inductor::AOTIModelPackageLoader`
(deploy/cpp). Loading it runs native code: --untrusted never loads it.

Compiling takes seconds to tens of seconds, so a package is cached under the hash of the
serialized program (graph and weights), the torch version and the settings: re-exporting an
unchanged run copies it instead of compiling again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from gan.errors import GanError
from gan.export.formats.base import ExportFormat, Target
from gan.export.formats.exported_program import export_program
from gan.files.atomic import write_bytes

COMPILERS = ("g++", "c++", "clang++")


def cpp_compiler() -> str | None:
    """The C++ compiler inductor would call ($CXX first), or None."""
    wanted = [os.environ["CXX"]] if os.environ.get("CXX") else list(COMPILERS)
    return next((path for name in wanted if (path := shutil.which(name))), None)


def cache_dir() -> Path:
    """$GAN_CACHE_DIR/aoti, or ~/.cache/gan-toolkit/aoti."""
    root = os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan-toolkit"
    return Path(root) / "aoti"


class AotiFormat(ExportFormat):
    name, suffix = "aoti", ".aoti.pt2"
    summary = "an AOTInductor package (torch._inductor), compiled for the export's device; loads from C++"

    def problem(self) -> str | None:
        if cpp_compiler() is None:
            return (
                "no C++ compiler (g++, c++ or clang++; or $CXX) on this machine: AOTInductor compiles "
                "the model into a shared library (apt-get install g++)"
            )
        return None

    def write(self, target: Target, path: Path) -> tuple[dict, dict]:
        device = torch.device(target.settings.get("device", "cpu"))
        program = export_program(_on(target, device))
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        settings = {"torch": torch.__version__, "device": device.type}
        key = hashlib.sha256(buffer.getvalue() + json.dumps(settings, sort_keys=True).encode()).hexdigest()
        cached = cache_dir() / f"{key}.pt2"
        if not cached.is_file():
            _compile(program, cached)
        write_bytes(path, cached.read_bytes())
        made_by = {**settings, "compiler": cpp_compiler(), "program_sha256": key}
        if device.type == "cpu":  # its kernels use this CPU's vector instructions: say which
            made_by["cpu_isa"] = _cpu_isa()
        return made_by, {}


def _cpu_isa() -> str:
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    return str(pick_vec_isa()) or "scalar"


def _on(target: Target, device: torch.device) -> Target:
    if device.type == "cpu":
        return target
    module = target.module.to(device)
    examples = tuple(x.to(device) for x in target.examples)
    return Target(**{**vars(target), "module": module, "examples": examples})


def _compile(program: torch.export.ExportedProgram, cached: Path) -> None:
    """Compiles into a fresh temporary dir (inductor writes with its own C++ writer), then moves
    the package into the cache in one step."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".compiling-") as tmp:
        package = Path(tmp) / "package.pt2"
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch._inductor.aoti_compile_and_package(program, package_path=str(package))
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            raise GanError(f"AOTInductor could not compile it: {type(error).__name__}: {first}") from None
        os.replace(package, cached)
