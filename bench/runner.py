"""`gan bench`: every workload through every backend, measured in one run, in one report.

Forward workloads go through export.backends (the same objects parity uses); train workloads go
through bench.train_variants. Both are timed by bench.timing, and scaled by the FLOPs of
bench.flops and the matmul peak of bench.peak measured in the same run.
"""

from __future__ import annotations

import copy
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

from gan.architecture import Architecture
from gan.architectures import load_architecture
from gan.bench.flops import workload_flops
from gan.bench.peak import matmul_peak_gflops
from gan.bench.rows import BenchRow
from gan.bench.timing import StopRule, measure
from gan.bench.train_variants import TRAIN_WORKLOADS, TrainSetup, make_train_variant
from gan.checkpoint import CHECKPOINT_JSON, load_checkpoint, trained_models
from gan.errors import GanError
from gan.export.exporter import export_models
from gan.export.inputs import example_inputs
from gan.export.manifest import read_manifest
from gan.export.registry import BACKENDS, ModelSource, NotApplicable, Unavailable, build_backends
from gan.gemm_engine import choose_engine, onednn_problem, use_engine
from gan.progress import make_progress

WORKLOAD_GROUPS = {
    "forward": ("forward G", "forward D", "forward D(G(z))"),
    "train": ("train D step", "train G step", "train iteration"),
}
_FORWARD_MODEL = {"forward G": "generator", "forward D": "discriminator", "forward D(G(z))": "chain"}
_TRAIN_KEY = dict(zip(WORKLOAD_GROUPS["train"], TRAIN_WORKLOADS))
_FLOP_KEY = {**_FORWARD_MODEL, **_TRAIN_KEY}
CPU_BACKENDS = ("eager", "eager-onednn", "torchscript", "onnxruntime", "compile", "compile-step")
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
# compile-step is a training path only; eager-onednn is eager with nn.Linear on oneDNN
# (gan.gemm_engine); every other name is a forward backend of the registry.
ALL_BACKENDS = tuple(dict.fromkeys([*BACKENDS, "eager-onednn", "compile-step"]))
MAX_BATCH = 65536
NO_ARCHITECTURE = "needs the model's Architecture: pass --arch SPEC"


@dataclass
class BenchConfig:
    device: torch.device
    batch_sizes: Sequence[int] = (64,)
    workloads: Sequence[str] = ("forward", "train")
    backends: Sequence[str] | None = None  # None: every backend of the device
    quick: bool = False
    threads: int | None = None
    arch: str | None = None  # spec; without an export dir None means mlp
    trust_code: bool = True
    stop_rule: StopRule = field(default_factory=StopRule)

    def __post_init__(self):
        if not self.batch_sizes or any(not 1 <= b <= MAX_BATCH for b in self.batch_sizes):
            raise GanError(f"--batch-size needs sizes from 1 to {MAX_BATCH}, got {list(self.batch_sizes)}")
        unknown = [w for w in self.workloads if w not in WORKLOAD_GROUPS]
        if unknown or not self.workloads:
            raise GanError(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOAD_GROUPS)}")
        if self.backends is not None:
            unknown = [b for b in self.backends if b not in ALL_BACKENDS]
            if unknown or not self.backends:
                raise GanError(f"unknown backend(s) {unknown}; choose from {', '.join(ALL_BACKENDS)}")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise GanError(f"--threads must be between 1 and 1024, got {self.threads}")

    @property
    def backend_names(self) -> list[str]:
        if self.backends is not None:
            return list(self.backends)
        return list(CUDA_BACKENDS if self.device.type == "cuda" else CPU_BACKENDS)


@dataclass
class BenchReport:
    environment: dict
    config: dict
    results: list[BenchRow]

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "config": self.config,
            "results": [r.to_dict() for r in self.results],
        }

    @property
    def failed_named_rows(self) -> list[BenchRow]:
        """Rows the user named in --backends that could not run (unavailable or error)."""
        named = self.config.get("backends_named") or []
        return [r for r in self.results if r.status in ("unavailable", "error") and r.backend in named]


@dataclass
class _Subject:
    """What is benchmarked: the export dir's artifacts, and the eager modules when known."""

    export_dir: Path
    manifest: dict
    eager: dict[str, torch.nn.Module] | None
    trust_code: bool = True

    def train_setup(self, batch: int, device: torch.device) -> TrainSetup | None:
        if self.eager is None:
            return None
        return TrainSetup(
            generator=self.eager["generator"],
            discriminator=self.eager.get("discriminator"),
            output_kind=self.manifest["discriminator_output"] or "probability",
            z_shape=tuple(self.manifest["z_shape"]),
            image_shape=tuple(self.manifest["image_shape"]),
            batch=batch,
            device=device,
        )


def run_bench(
    config: BenchConfig, export_dir: Path | None = None, console: Console | None = None
) -> BenchReport:
    """The Python API: benchmarks an export dir (or a fresh export of `config.arch`)."""
    console = console or Console(quiet=True)
    threads = config.threads or torch.get_num_threads()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rule = StopRule.quick() if config.quick else config.stop_rule
    try:
        with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
            subject = _subject(config, export_dir, Path(tmp), console)
            subject.trust_code = config.trust_code
            flops = {}
            for batch in config.batch_sizes:
                setup = subject.train_setup(batch, torch.device("cpu"))
                flops[batch] = workload_flops(setup) if setup is not None else {}
            with console.status("measuring the matmul peak and the GEMM engines"):
                peak = matmul_peak_gflops(config.device, quick=config.quick)
                gemm = _gemm_choices(subject, config)
            results = []
            with make_progress(console, transient=True) as progress:
                jobs = list(_jobs(config, subject, threads))
                task = progress.add_task("benchmarking", total=len(jobs), status="")
                for workload, backend, batch, make_run in jobs:
                    progress.update(task, status=f"{workload} / {backend} / batch {batch}")
                    row = BenchRow(workload, backend, str(config.device), batch)
                    results.append(_measure_row(row, make_run, config.device, rule, flops[batch], peak))
                    progress.advance(task)
    finally:
        torch.set_num_threads(previous_threads)
    _add_speedups(results)
    return BenchReport(
        environment={**environment(config.device, threads, peak), "gemm_engine": gemm},
        config={
            "batch_sizes": list(config.batch_sizes),
            "device": str(config.device),
            "workloads": list(config.workloads),
            "backends": config.backend_names,
            "backends_named": list(config.backends or []),
            "quick": config.quick,
            "arch": subject.manifest["arch"],
            "export_dir": str(export_dir) if export_dir else None,
            "stop_rule": vars(rule),
            "flops": {str(b): f for b, f in flops.items()},
        },
        results=results,
    )


def _gemm_choices(subject: _Subject, config: BenchConfig) -> dict[str, dict]:
    """Per batch: the engine `gan train --gemm auto --no-compile` would take for these models here."""
    if subject.eager is None or "discriminator" not in subject.eager:
        return {}
    generator, discriminator = subject.eager["generator"], subject.eager["discriminator"]
    z_shape = tuple(subject.manifest["z_shape"])
    return {
        str(batch): choose_engine("auto", config.device, generator, discriminator, z_shape, batch).to_dict()
        for batch in config.batch_sizes
    }


def _subject(config: BenchConfig, export_dir: Path | None, tmp: Path, console: Console) -> _Subject:
    """The manifest's artifacts, or a fresh seeded model exported into `tmp` when none is given."""
    if export_dir is None:
        architecture, ref = load_architecture(config.arch or "mlp")
        generator, discriminator = architecture.build(seed=0)
        with console.status("exporting a fresh seeded model"):
            export_models(architecture, generator, discriminator, tmp / "export", arch_ref=ref)
        eager = {"generator": generator, "discriminator": discriminator}
        return _Subject(tmp / "export", read_manifest(tmp / "export"), _present(eager))
    manifest = read_manifest(export_dir)
    architecture = _architecture_for(manifest, config.arch)
    if architecture is None:
        return _Subject(Path(export_dir), manifest, None)
    generator, discriminator = architecture.build(seed=0)
    run_dir = Path(manifest["source"].get("run_dir") or "")
    if (run_dir / CHECKPOINT_JSON).exists():  # timing does not depend on the weights, but use them
        generator, discriminator = trained_models(load_checkpoint(run_dir), architecture)
    eager = {"generator": generator, "discriminator": discriminator}
    return _Subject(Path(export_dir), manifest, _present(eager))


def _architecture_for(manifest: dict, spec: str | None) -> Architecture | None:
    """The user's --arch, or the manifest's when it names installed code (a built-in or entry
    point); a file path in a manifest is never imported on its own, since that runs its code."""
    if spec is None:
        spec = manifest["arch"].get("spec")
        if not spec or ":" in spec:
            return None
    architecture, _ = load_architecture(spec)
    if (
        list(architecture.z_shape) != manifest["z_shape"]
        or list(architecture.image_shape) != manifest["image_shape"]
    ):
        raise GanError(
            f"--arch {spec} has z {architecture.z_shape} and images {architecture.image_shape}, but the "
            f"export has z {tuple(manifest['z_shape'])} and images {tuple(manifest['image_shape'])}"
        )
    return architecture


def _present(models: dict) -> dict:
    return {name: module for name, module in models.items() if module is not None}


def _jobs(config: BenchConfig, subject: _Subject, threads: int):
    """(workload, backend, batch, factory) tuples; a factory returns a zero-argument call or raises."""
    device = config.device
    manifest = subject.manifest
    generator_only = "discriminator" not in manifest["models"]
    forward = {
        name: functools.cache(functools.partial(_forward_backends, name, subject, device, threads))
        for name in config.backend_names
    }
    for batch in config.batch_sizes:
        inputs = example_inputs(manifest["z_shape"], manifest["image_shape"], batch, seed=0)
        if "forward" in config.workloads:
            for workload, model in _FORWARD_MODEL.items():
                for name in config.backend_names:
                    if generator_only and model != "generator":
                        yield workload, name, batch, _no_discriminator
                    else:
                        yield workload, name, batch, _bound(forward[name], model, inputs[model])
        if "train" in config.workloads:
            variants: dict[str, object] = {}
            for workload, key in _TRAIN_KEY.items():
                for name in config.backend_names:
                    if generator_only:
                        yield workload, name, batch, _no_discriminator
                    else:
                        yield workload, name, batch, _train_run(variants, name, key, subject, batch, device)


def _forward_backends(name: str, subject: _Subject, device: torch.device, threads: int) -> dict:
    if name == "compile-step":
        raise NotApplicable("the whole-step graph is a training path; see the compile row for forward")
    if name in ("eager", "eager-onednn", "compile", "cudagraph") and subject.eager is None:
        raise Unavailable(NO_ARCHITECTURE)
    if name == "eager-onednn":
        if (problem := onednn_problem(device, compiled=False)) is not None:
            raise Unavailable(problem)
        eager = {k: use_engine(copy.deepcopy(v), "onednn") for k, v in subject.eager.items()}
        source = ModelSource(subject.export_dir, subject.manifest, eager)
        return build_backends("eager", source, device, threads=threads)
    if name == "onnxruntime" and device.type == "cuda":
        raise Unavailable("on CUDA the ONNX Runtime rows are onnxruntime-iobinding/-numpy/-cudagraph")
    eager = {k: copy.deepcopy(v) for k, v in subject.eager.items()} if subject.eager else None
    source = ModelSource(subject.export_dir, subject.manifest, eager, trust_code=subject.trust_code)
    return build_backends(name, source, device, threads=threads)


def _no_discriminator() -> Callable:
    raise NotApplicable("no discriminator: a generator-only model")


def _bound(factory: Callable, model: str, x: torch.Tensor) -> Callable[[], Callable]:
    return lambda: factory()[model].bind(x)


def _train_run(variants: dict, name: str, key: str, subject: _Subject, batch: int, device) -> Callable:
    def make() -> Callable:
        if name not in variants:
            try:
                setup = subject.train_setup(batch, device)
                if setup is None:
                    raise Unavailable(NO_ARCHITECTURE)
                variants[name] = make_train_variant(name, setup)
            except (Unavailable, NotApplicable) as error:
                variants[name] = error
        variant = variants[name]
        if isinstance(variant, Exception):
            raise variant
        if key in variant.not_applicable:
            raise NotApplicable(variant.not_applicable[key])
        return variant.runs[key]

    return make


def _measure_row(row: BenchRow, make_run, device, rule, flops: dict, peak: dict) -> BenchRow:
    try:
        run = make_run()
        measurement = measure(run, device, rule)
    except Unavailable as error:
        return _with_status(row, "unavailable", str(error))
    except NotApplicable as error:
        return _with_status(row, "n/a", str(error))
    except GanError as error:
        return _with_status(row, "unavailable", str(error))
    except Exception as error:  # one backend failing must not take the other rows with it
        first = (str(error).strip().splitlines() or [""])[0][:300]
        return _with_status(row, "error", f"{type(error).__name__}: {first}")
    summary = measurement.summary()
    median_s = summary["median_ms"] / 1e3
    for key, value in summary.items():
        setattr(row, key, value)
    row.samples_ms = measurement.samples_ms
    row.throughput_per_s = row.batch_size / median_s
    if (count := flops.get(_FLOP_KEY[row.workload])) is not None:
        row.gflops = count / median_s / 1e9
        row.pct_of_peak = 100 * row.gflops / peak["gflops"]
    return row


def _with_status(row: BenchRow, status: str, reason: str) -> BenchRow:
    row.status, row.reason = status, reason
    return row


def _add_speedups(results: list[BenchRow]) -> None:
    eager = {(r.workload, r.batch_size): r.median_ms for r in results if r.backend == "eager" and r.ok}
    for r in results:
        if r.ok and (r.workload, r.batch_size) in eager:
            r.speedup_vs_eager = eager[(r.workload, r.batch_size)] / r.median_ms


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
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
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
