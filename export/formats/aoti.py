"""AOTInductor: the ExportedProgram compiled ahead of time into a package (a shared library plus
the weights) for the export's device, with `torch._inductor.aoti_compile_and_package`. Python loads
it with `torch._inductor.aoti_load_package`, C++ with `torch::inductor::AOTIModelPackageLoader`
(deploy/cpp). Loading it runs native code: --untrusted never loads it.

Compiling takes seconds to tens of seconds, so a package is cached (gan.export.formats.cache)
under the hash of the serialized program (graph and weights), the torch version and the settings:
re-exporting an unchanged run copies it instead of compiling again.

It is compiled with inductor's `freezing`: the weights become constants of the graph, so the CPU
kernels take them pre-packed for the GEMM library, as an inference-only artifact can.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from pathlib import Path

import torch

from gan.errors import GanError
from gan.export.formats.base import ExportFormat, Target
from gan.export.formats.cache import cache_key, cached_file
from gan.export.formats.exported_program import program_of
from gan.files.atomic import write_bytes

COMPILERS = ("g++", "c++", "clang++")
# Inductor settings of every package; they are part of its cache key and of its manifest entry.
INDUCTOR_CONFIGS = {"freezing": True}


def cpp_compiler() -> str | None:
    """The C++ compiler inductor would call ($CXX first), or None."""
    wanted = [os.environ["CXX"]] if os.environ.get("CXX") else list(COMPILERS)
    return next((path for name in wanted if (path := shutil.which(name))), None)


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
        program, saved = program_of(_on(target, device))
        settings = {"torch": torch.__version__, "device": device.type, "inductor": INDUCTOR_CONFIGS}
        key = cache_key(saved, settings)
        cached = cached_file("aoti", key, ".pt2", lambda made: _compile(program, made))
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
    return Target(**{**vars(target), "module": module, "examples": examples, "made": {}})


def _compile(program: torch.export.ExportedProgram, package: Path) -> None:
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch._inductor.aoti_compile_and_package(
                program, package_path=str(package), inductor_configs=dict(INDUCTOR_CONFIGS)
            )
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise GanError(f"AOTInductor could not compile it: {type(error).__name__}: {first}") from None
