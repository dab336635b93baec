"""`gan bench`: every workload through every backend, measured in one run, in one report.

Forward workloads go through export.backends (the same objects parity uses); train workloads go
through bench.train_variants. Both are timed by bench.timing, and scaled by the FLOPs of
bench.flops and the matmul peak of bench.peak measured in the same run.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console

from bench.cuda_graph import CudaGraphBackend
from bench.flops import gan_flops
from bench.peak import matmul_peak_gflops
from bench.timing import StopRule, measure
from bench.train_variants import (
    TRAIN_WORKLOADS,
    NotApplicable,
    Unavailable,
    make_train_variant,
)
from export.artifacts import onnxruntime_backends, torchscript_backends, with_chain
from export.backends import Backend, TorchBackend, cuda_provider_problem, eager_backend
from export.exporter import export_models
from export.manifest import read_manifest
from gan.checkpoint import CHECKPOINT_JSON, load_checkpoint, trained_models
from gan.config import TrainConfig
from gan.errors import GanError
from gan.models import build_models
from gan.progress import make_progress

WORKLOAD_GROUPS = {
    "forward": ("forward G", "forward D", "forward D(G(z))"),
    "train": ("train D step", "train G step", "train iteration"),
}
_FORWARD_MODEL = {"forward G": "generator", "forward D": "discriminator", "forward D(G(z))": "chain"}
_TRAIN_KEY = dict(zip(WORKLOAD_GROUPS["train"], TRAIN_WORKLOADS))
_FLOP_KEY = {**_FORWARD_MODEL, **_TRAIN_KEY}
CPU_BACKENDS = ("eager", "torchscript", "onnxruntime", "compile", "compile-step")
CUDA_BACKENDS = (
    "eager",
    "torchscript",
    "onnxruntime-iobinding",
    "onnxruntime-numpy",
    "onnxruntime-cudagraph",
    "compile",
    "compile-step",
    "cudagraph",
)
ALL_BACKENDS = tuple(dict.fromkeys(CPU_BACKENDS + CUDA_BACKENDS))


@dataclass
class BenchConfig:
    device: torch.device
    batch_size: int = 64
    workloads: Sequence[str] = ("forward", "train")
    backends: Sequence[str] | None = None  # None: every backend of the device
    quick: bool = False
    threads: int | None = None
    arch: str = "mlp"
    stop_rule: StopRule = field(default_factory=StopRule)

    def __post_init__(self):
        if self.batch_size < 1:
            raise GanError(f"--batch-size must be at least 1, got {self.batch_size}")
        unknown = [w for w in self.workloads if w not in WORKLOAD_GROUPS]
        if unknown or not self.workloads:
            raise GanError(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOAD_GROUPS)}")
        if self.backends is not None:
            unknown = [b for b in self.backends if b not in ALL_BACKENDS]
            if unknown or not self.backends:
                raise GanError(f"unknown backend(s) {unknown}; choose from {', '.join(ALL_BACKENDS)}")
        if self.threads is not None and self.threads < 1:
            raise GanError(f"--threads must be at least 1, got {self.threads}")

    @property
    def backend_names(self) -> list[str]:
        if self.backends is not None:
            return list(self.backends)
        return list(CUDA_BACKENDS if self.device.type == "cuda" else CPU_BACKENDS)


@dataclass
class BenchReport:
    environment: dict
    config: dict
    results: list[dict]

    def to_dict(self) -> dict:
        return {"environment": self.environment, "config": self.config, "results": self.results}

    @property
    def explicitly_named_unavailable(self) -> list[dict]:
        named = self.config.get("backends_named") or []
        return [r for r in self.results if r["status"] == "unavailable" and r["backend"] in named]


def run_bench(
    config: BenchConfig, export_dir: Path | None = None, console: Console | None = None
) -> BenchReport:
    console = console or Console()
    threads = config.threads or torch.get_num_threads()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rule = StopRule.quick() if config.quick else config.stop_rule
    try:
        with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
            artifact_dir, manifest, eager_modules = _artifacts(config, export_dir, Path(tmp), console)
            flops = gan_flops(*eager_modules, torch.randn(config.batch_size, manifest["z_dim"]))
            with console.status("measuring the matmul peak"):
                peak = matmul_peak_gflops(config.device, quick=config.quick)
            results = []
            with make_progress(console, transient=True) as progress:
                jobs = list(_jobs(config, artifact_dir, manifest, eager_modules, threads))
                task = progress.add_task("benchmarking", total=len(jobs), status="")
                for workload, backend, make_run in jobs:
                    progress.update(task, status=f"{workload} / {backend}")
                    results.append(_measure_row(workload, backend, make_run, config, rule, flops, peak))
                    progress.advance(task)
    finally:
        torch.set_num_threads(previous_threads)
    _add_speedups(results)
    return BenchReport(
        environment=environment(config.device, threads, peak),
        config={
            "batch_size": config.batch_size,
            "device": str(config.device),
            "workloads": list(config.workloads),
            "backends": config.backend_names,
            "backends_named": list(config.backends or []),
            "quick": config.quick,
            "arch": manifest["arch"],
            "export_dir": str(export_dir) if export_dir else None,
            "stop_rule": vars(rule),
            "flops": flops,
        },
        results=results,
    )


def _artifacts(config: BenchConfig, export_dir: Path | None, tmp: Path, console: Console):
    """The manifest's artifacts, or a fresh seeded model exported into `tmp` when none is given."""
    if export_dir is None:
        generator, discriminator = build_models(config.arch, 100, seed=0)
        with console.status("exporting a fresh seeded model"):
            export_models(
                generator,
                discriminator,
                TrainConfig(arch=config.arch),
                torch.randn(64, 100),
                {"run_dir": None, "note": "fresh seeded model made by gan bench"},
                tmp / "export",
                console=Console(quiet=True),
            )
        return tmp / "export", read_manifest(tmp / "export"), (generator, discriminator)
    manifest = read_manifest(export_dir)
    run_dir = Path(manifest["source"].get("run_dir") or "")
    if (run_dir / CHECKPOINT_JSON).exists():  # timing does not depend on the weights, but use them
        generator, discriminator = trained_models(load_checkpoint(run_dir))
    else:
        generator, discriminator = build_models(manifest["arch"], manifest["z_dim"], seed=0)
    return Path(export_dir), manifest, (generator, discriminator)


def _jobs(config: BenchConfig, artifact_dir: Path, manifest, eager_modules, threads):
    """(workload, backend, factory) triples; a factory returns a zero-argument call or raises."""
    device = config.device
    z_dim = manifest["z_dim"]
    rng = torch.Generator().manual_seed(0)
    inputs = {
        "generator": torch.randn(config.batch_size, z_dim, generator=rng),
        "discriminator": torch.rand(config.batch_size, 1, 28, 28, generator=rng) * 2 - 1,
    }
    inputs["chain"] = inputs["generator"]
    forward_backends = {}
    for name in config.backend_names:
        forward_backends[name] = _forward_factory(
            name, device, artifact_dir, manifest, eager_modules, threads
        )
    if "forward" in config.workloads:
        for workload, model in _FORWARD_MODEL.items():
            for name, factory in forward_backends.items():
                yield workload, name, _bound(factory, model, inputs[model])
    if "train" in config.workloads:
        variants: dict[str, object] = {}
        for workload, key in _TRAIN_KEY.items():
            for name in config.backend_names:
                yield workload, name, _train_run(variants, name, key, config, manifest)


def _forward_factory(name, device, export_dir, manifest, eager_modules, threads) -> Callable:
    def build() -> dict[str, Backend]:
        if name == "eager":
            pairs = with_chain(*(eager_backend(m, device) for m in eager_modules))
        elif name == "torchscript":
            pairs = torchscript_backends(export_dir, manifest, device)
        elif name == "compile":
            pairs = with_chain(
                *(TorchBackend("compile", torch.compile(m.to(device).eval()), device) for m in eager_modules)
            )
        elif name == "compile-step":
            raise NotApplicable("the whole-step graph is a training path; see the compile row for forward")
        elif name == "cudagraph":
            if device.type != "cuda":
                raise Unavailable("CUDA graphs need a CUDA device")
            pairs = with_chain(*(CudaGraphBackend(m, device) for m in eager_modules))
        elif name.startswith("onnxruntime"):
            pairs = _ort_pairs(name, device, export_dir, manifest, threads)
        else:
            raise ValueError(name)
        return dict(pairs)

    # Built on first use, once for all three forward workloads.
    return functools.cache(build)


def _ort_pairs(name, device, export_dir, manifest, threads):
    options = {"intra_op_threads": threads, "inter_op_threads": 1}
    if device.type == "cpu":
        if name != "onnxruntime":
            raise Unavailable(f"{name} is a CUDA mode; on the CPU the row is 'onnxruntime'")
        return onnxruntime_backends(export_dir, manifest, device, **options)
    if name == "onnxruntime":
        raise Unavailable("on CUDA the ONNX Runtime rows are onnxruntime-iobinding/-numpy/-cudagraph")
    if (problem := cuda_provider_problem()) is not None:
        raise Unavailable(problem)
    mode = name.removeprefix("onnxruntime-")
    return onnxruntime_backends(
        export_dir, manifest, device, io_binding=mode != "numpy", cuda_graph=mode == "cudagraph", **options
    )


def _bound(factory: Callable, model: str, x: torch.Tensor) -> Callable[[], Callable]:
    return lambda: factory()[model].bind(x)


def _train_run(variants: dict, name: str, key: str, config: BenchConfig, manifest: dict) -> Callable:
    def make() -> Callable:
        if name not in variants:
            try:
                variants[name] = make_train_variant(
                    name, manifest["arch"], manifest["z_dim"], config.batch_size, config.device
                )
            except Unavailable as error:
                variants[name] = error
        variant = variants[name]
        if isinstance(variant, Unavailable):
            raise variant
        if key in variant.not_applicable:
            raise NotApplicable(variant.not_applicable[key])
        return variant.runs[key]

    return make


def _measure_row(workload, backend, make_run, config: BenchConfig, rule, flops, peak) -> dict:
    row = {
        "workload": workload,
        "backend": backend,
        "device": str(config.device),
        "batch_size": config.batch_size,
        "status": "ok",
        "reason": "",
        "median_ms": None,
        "p90_ms": None,
        "p99_ms": None,
        "iqr_ms": None,
        "mean_ms": None,
        "cv": None,
        "cold_ms": None,
        "throughput_per_s": None,
        "speedup_vs_eager": None,
        "gflops": None,
        "pct_of_peak": None,
        "samples_ms": [],
        "noisy": None,
    }
    try:
        run = make_run()
        measurement = measure(run, config.device, rule)
    except Unavailable as error:
        return {**row, "status": "unavailable", "reason": str(error)}
    except NotApplicable as error:
        return {**row, "status": "n/a", "reason": str(error)}
    except GanError as error:
        return {**row, "status": "unavailable", "reason": str(error)}
    summary = measurement.summary()
    median_s = summary["median_ms"] / 1e3
    gflops = flops[_FLOP_KEY[workload]] / median_s / 1e9
    return {
        **row,
        **summary,
        "samples_ms": measurement.samples_ms,
        "throughput_per_s": config.batch_size / median_s,
        "gflops": gflops,
        "pct_of_peak": 100 * gflops / peak["gflops"],
    }


def _add_speedups(results: list[dict]) -> None:
    eager = {
        r["workload"]: r["median_ms"] for r in results if r["backend"] == "eager" and r["status"] == "ok"
    }
    for r in results:
        if r["status"] == "ok" and r["workload"] in eager:
            r["speedup_vs_eager"] = eager[r["workload"]] / r["median_ms"]


def environment(device: torch.device, threads: int, peak: dict) -> dict:
    import onnx
    import onnxruntime

    return {
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "python": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "ort_intra_op_threads": threads,
        "ort_inter_op_threads": 1,
        "git_commit": git_commit(),
        "matmul_peak": peak,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
