"""Parity from a process without Python: `gan verify --cpp` builds export/cpp/gan_run.cpp once
against the installed torch wheel's headers and libraries (cached by the torch version and a hash
of the source), runs it on the golden inputs with the AOTInductor package and the TorchScript
file, and holds its outputs to the same rule, as rows "aoti-cpp" and "torchscript-cpp"."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from gan.errors import EnvironmentMissing, GanError
from gan.export.formats.aoti import cpp_compiler
from gan.export.formats.cache import cache_dir
from gan.export.golden import golden_inputs, parity_cases
from gan.export.manifest import manifest_signature
from gan.export.parity import Comparison, Rule, compare, failed

SOURCE = Path(__file__).parent / "cpp" / "gan_run.cpp"
# The C++ rows: the format whose file the program loads, by the name its rows carry.
CPP_ROWS = {"aoti-cpp": "aoti", "torchscript-cpp": "torchscript"}
BUILD_SECONDS = 600


def build_program() -> Path:
    """The gan_run binary, built once per torch version and source; one line when it cannot be."""
    compiler = cpp_compiler()
    if compiler is None:
        raise EnvironmentMissing("--cpp needs a C++20 compiler (g++ 10 or newer, or clang++; or $CXX)")
    torch_dir = Path(torch.__file__).parent
    key = hashlib.sha256(SOURCE.read_bytes() + torch.__version__.encode() + compiler.encode()).hexdigest()[
        :16
    ]
    binary = cache_dir("cpp") / f"gan_run-{key}"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f".{binary.name}.{os.getpid()}")
    command = [
        compiler, "-std=c++20", "-O1", str(SOURCE),
        f"-I{torch_dir / 'include'}", f"-I{torch_dir / 'include' / 'torch' / 'csrc' / 'api' / 'include'}",
        f"-L{torch_dir / 'lib'}", "-ltorch", "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{torch_dir / 'lib'}",
        "-o", str(partial),
    ]  # fmt: skip
    built = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_SECONDS)
    if built.returncode != 0:
        errors = [line for line in built.stderr.splitlines() if "error" in line] or built.stderr.splitlines()
        first = (errors or ["no output"])[0][:300]
        if "C++20" in built.stderr or "c++20" in built.stderr:
            raise EnvironmentMissing(f"--cpp needs a C++20 compiler; {compiler} says: {first}")
        raise EnvironmentMissing(f"building the C++ program with {compiler} failed: {first}")
    os.replace(partial, binary)
    return binary


def cpp_comparisons(
    export_dir: Path, manifest: dict, golden: dict[str, torch.Tensor], rule: Rule, outputs: dict[str, str]
) -> list[Comparison]:
    """G's and D's golden cases at every batch through the C++ program, for each of the AOTInductor
    package and the TorchScript file that the export has."""
    binary = build_program()
    signature = manifest_signature(manifest)
    cases = [c for c in parity_cases(signature, "discriminator" in manifest["models"]) if c[1] != "chain"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gan-cpp-") as tmp:
        for row_name, fmt in CPP_ROWS.items():
            for key, model, _ in cases:
                file = manifest["models"][model]["files"].get(fmt)
                if file is None:
                    continue
                inputs = golden_inputs(golden, signature, key)
                rows += _run_cases(binary, fmt, Path(export_dir) / file, row_name, key, model, inputs,
                                   golden[f"{key}.output"], manifest, rule, outputs, Path(tmp))  # fmt: skip
    return rows


def _run_cases(binary, fmt, path, row_name, key, model, inputs, expected, manifest, rule, outputs, tmp):
    batches = manifest["golden"]["batches"]
    plan, prefixes = [], {}
    for batch in batches:
        prefix = tmp / f"{row_name}-{key}-{batch}-out"
        prefixes[batch] = prefix
        plan.append(f"case {key}@{batch} {len(inputs)} {prefix}")
        for i, x in enumerate(inputs):
            part = x[:batch].contiguous()
            dtype = "int64" if part.dtype == torch.int64 else "float32"
            raw = tmp / f"{row_name}-{key}-{batch}-in{i}.bin"
            part.numpy().astype(np.int64 if dtype == "int64" else np.float32).tofile(raw)
            plan.append(f"{dtype} {part.dim()} {' '.join(map(str, part.shape))} {raw}")
    plan_file = tmp / f"{row_name}-{key}.plan"
    plan_file.write_text("\n".join(plan) + "\n")
    ran = subprocess.run([str(binary), fmt, str(path), str(plan_file)], capture_output=True, text=True)
    output = outputs.get(model, "")
    tolerance = rule.tolerance("cpu", output)
    rows = []
    for batch in batches:
        labels = dict(model=key, backend=row_name, device="cpu", batch=batch, output=output, precision="fp32")
        try:
            if ran.returncode != 0:
                raise GanError(
                    f"the C++ program failed: {(ran.stderr.strip().splitlines() or ['no output'])[0]}"
                )
            prefix = prefixes[batch]
            shape = [int(d) for d in Path(f"{prefix}.0.shape").read_text().split()]
            actual = torch.from_numpy(np.fromfile(f"{prefix}.0.bin", dtype=np.float32).reshape(shape))
            rows.append(
                compare(actual, expected[:batch], tolerance, rule.error_stat, rule.error_quantile, **labels)
            )
        except Exception as error:
            rows.append(failed(labels, tolerance, error))
    return rows
