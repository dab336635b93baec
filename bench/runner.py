"""`gan bench`: every scenario through every backend, measured in one run, in one set of results.

The scenarios (gan.bench.scenarios) time the backends of gan.export.backends, the same objects
parity uses; rows are scaled by the FLOPs of gan.bench.flops and the matmul peak of
gan.bench.peak, both measured in the same run.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from gan.bench.environment import environment
from gan.bench.flops import workload_flops
from gan.bench.load import load_warning, machine_load
from gan.bench.peak import matmul_peak_gflops
from gan.bench.results import BenchResults
from gan.bench.rows import BenchRow
from gan.bench.scenarios import SCENARIOS, row_name
from gan.bench.subject import Subject
from gan.bench.timing import StopRule
from gan.console import make_progress
from gan.errors import GanError
from gan.export.backends import NAMES, Unavailable, backend_spec, bench_backends
from gan.export.exporter import ExportRequest, export_models
from gan.export.manifest import manifest_signature, read_manifest
from gan.export.precision import PRECISIONS, parse_precisions
from gan.export.verify import parity_gate
from gan.models.architecture import Architecture
from gan.models.spec import load_architecture
from gan.runs.checkpoint import CHECKPOINT_JSON, load_checkpoint
from gan.runs.trained import trained_models
from gan.train.gemm_engine import choose_engine

MAX_BATCH = 65536
# How long the other processes' CPU use is sampled before and after a bench (--quick: shorter).
LOAD_SAMPLE_S, QUICK_LOAD_SAMPLE_S = 0.5, 0.2
# --quick's wall-clock budget: the rows not started by then are listed as skipped.
QUICK_BUDGET_S = 60.0


@dataclass
class BenchConfig:
    device: torch.device
    batch_sizes: Sequence[int] = (64,)
    workloads: Sequence[str] = ("forward", "train")
    backends: Sequence[str] | None = None  # None: every backend bench runs on the device by default
    quick: bool = False  # a smaller peak measurement, and StopRule.quick() unless stop_rule is given
    threads: int | None = None
    arch: str | None = None  # spec; without an export dir None means mlp
    trust_code: bool = True
    strict: bool = False  # refuse an export that failed parity (else: a warning line)
    stop_rule: StopRule | None = None  # None: StopRule.quick() with quick, else StopRule()
    # None: fp32 plus every precision each backend can run here (the export's variants, bf16).
    precisions: Sequence[str] | None = None
    # Seconds the whole bench may take; rows not started by then are "skipped" with the reason.
    # None: QUICK_BUDGET_S with quick, else no limit.
    budget_s: float | None = None

    def __post_init__(self):
        if self.precisions is not None:
            self.precisions = parse_precisions(",".join(self.precisions), PRECISIONS)
        if not self.batch_sizes or any(not 1 <= b <= MAX_BATCH for b in self.batch_sizes):
            raise GanError(f"--batch-size needs sizes from 1 to {MAX_BATCH}, got {list(self.batch_sizes)}")
        unknown = [w for w in self.workloads if w not in SCENARIOS]
        if unknown or not self.workloads:
            raise GanError(f"unknown workload(s) {unknown}; choose from {', '.join(SCENARIOS)}")
        if self.backends is not None:
            unknown = [b for b in self.backends if b not in NAMES]
            if unknown or not self.backends:
                raise GanError(f"unknown backend(s) {unknown}; choose from {', '.join(NAMES)}")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise GanError(f"--threads must be between 1 and 1024, got {self.threads}")
        if self.budget_s is None and self.quick:
            self.budget_s = QUICK_BUDGET_S
        if self.budget_s is not None and not 0 < self.budget_s < 1e7:
            raise GanError(f"--budget must be a positive number of seconds, got {self.budget_s}")

    @property
    def backend_names(self) -> list[str]:
        if self.backends is not None:
            return list(self.backends)
        return [spec.name for spec in bench_backends(self.device)]


def run_bench(
    config: BenchConfig, export_dir: Path | None = None, console: Console | None = None
) -> BenchResults:
    """The Python API: benchmarks an export dir (or a fresh export of `config.arch`)."""
    console = console or Console(quiet=True)
    threads = config.threads or torch.get_num_threads()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    sample_s = QUICK_LOAD_SAMPLE_S if config.quick else LOAD_SAMPLE_S
    load_before = machine_load(sample_s)
    deadline = time.monotonic() + config.budget_s if config.budget_s is not None else math.inf
    try:
        with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
            subject = _subject(config, export_dir, Path(tmp), threads, console)
            flops = {batch: _flops(subject, batch) for batch in config.batch_sizes}
            with console.status("measuring the matmul peak and the GEMM engines"):
                peak = matmul_peak_gflops(config.device, quick=config.quick)
                gemm = _gemm_choices(subject, config)
            rows = _measure(config, subject, flops, console, deadline)
            # Measured again at the end, keeping the best: a peak taken while something else ran
            # reads low, and every row would then read high against it.
            if time.monotonic() < deadline:
                with console.status("measuring the matmul peak again"):
                    peak = best_peak(peak, matmul_peak_gflops(config.device, quick=config.quick))
    finally:
        torch.set_num_threads(previous_threads)
    for row in rows:
        _against_peak(row, peak)
    _add_speedups(rows)
    load = {"before": load_before, "after": machine_load(sample_s)}
    load["warning"] = load_warning(load["before"], load["after"])
    return BenchResults(
        environment={**environment(config.device, threads, peak), "gemm_engine": gemm, "load": load},
        config={
            "batch_sizes": list(config.batch_sizes),
            "device": str(config.device),
            "workloads": list(config.workloads),
            "backends": config.backend_names,
            "backends_named": list(config.backends or []),
            "precisions_named": list(config.precisions or []),
            "quick": config.quick,
            "budget_s": config.budget_s,
            "arch": subject.manifest["arch"],
            "export_dir": str(export_dir) if export_dir else None,
            "stop_rule": vars(subject.stop_rule),
            "flops": {str(b): f for b, f in flops.items()},
            "quality_cost": quality_costs(subject.manifest),
        },
        rows=rows,
    )


def _measure(
    config: BenchConfig, subject: Subject, flops: dict, console: Console, deadline: float = math.inf
) -> list[BenchRow]:
    """Every scenario of the chosen workloads, through every chosen backend, at every batch; a row
    not started by `deadline` (time.monotonic) is "skipped", saying so."""
    scenarios = [scenario for workload in config.workloads for scenario in SCENARIOS[workload]]
    backends = [backend_spec(name) for name in config.backend_names]
    rows = []
    plan = [
        (batch, scenario, backend, precision)
        for batch in config.batch_sizes
        for scenario in scenarios
        for backend in backends
        for precision in scenario.precisions(subject, backend)
        if config.precisions is None or precision in config.precisions
    ]
    with make_progress(console, transient=True) as progress:
        task = progress.add_task("benchmarking", total=len(plan), status="")
        for batch, scenario, backend, precision in plan:
            progress.update(
                task, status=f"{scenario.workload} / {row_name(backend, precision)} / batch {batch}"
            )
            if time.monotonic() >= deadline:
                row = scenario.skipped(backend, batch, precision, config.budget_s)
            else:
                row = scenario.run(subject, backend, batch, precision)
            rows.append(_scaled(row, flops[batch].get(scenario.flops_key)))
            progress.advance(task)
    return rows


def quality_costs(manifest: dict) -> dict[str, float]:
    """precision -> FCD increase (%) against fp32, as `gan eval --precision` measured it in the
    export's source run dir (on ONNX Runtime: the same file gives the same images elsewhere)."""
    source = manifest["source"]
    if not source.get("run_dir"):
        return {}
    costs = {}
    for precision in PRECISIONS:
        path = Path(source["run_dir"]) / f"eval-{precision}.json"
        try:
            measured = json.loads(path.read_text()) if path.is_file() else None
            # Only a measurement of these weights: a later checkpoint's export is another model.
            if measured and measured["cost"]["checkpoint_sha256"] == source.get("checkpoint_sha256"):
                costs[precision] = float(measured["cost"]["fcd_increase_pct"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged record is left out, not trusted
    return costs


def _flops(subject: Subject, batch: int) -> dict[str, int]:
    try:
        return workload_flops(subject.train_setup(batch, torch.device("cpu")))
    except Unavailable:  # without the modules there is nothing to count
        return {}


def _scaled(row: BenchRow, flops: int | None) -> BenchRow:
    if row.ok and flops is not None:
        row.gflops = flops / (row.median_ms / 1e3) / 1e9
    return row


def _against_peak(row: BenchRow, peak: dict) -> None:
    """% of the fp32 GEMM peak, for fp32 rows only: no int8 or bf16 peak is measured, so a
    reduced-precision row shows its rate without a percentage. A row above 100% means the peak
    was measured low (a busy machine); it is flagged, not printed as fact."""
    if row.gflops is None or row.precision != "fp32":
        return
    pct = 100 * row.gflops / peak["gflops"]
    if pct > 100:
        row.peak_under_measured = True
    else:
        row.pct_of_peak = pct


def best_peak(first: dict, second: dict) -> dict:
    best = max(first, second, key=lambda p: p["gflops"])
    return {**best, "measured_gflops": [round(first["gflops"], 1), round(second["gflops"], 1)]}


def _gemm_choices(subject: Subject, config: BenchConfig) -> dict[str, dict]:
    """Per batch: the engine `gan train --gemm auto --no-compile` would take for these models here."""
    if subject.eager is None or "discriminator" not in subject.eager:
        return {}
    generator, discriminator = subject.eager["generator"], subject.eager["discriminator"]
    return {
        str(batch): choose_engine(
            "auto", config.device, generator, discriminator, subject.signature, batch
        ).to_dict()
        for batch in config.batch_sizes
    }


def _subject(
    config: BenchConfig, export_dir: Path | None, tmp: Path, threads: int, console: Console
) -> Subject:
    """The manifest's artifacts, or a fresh seeded model exported into `tmp` when none is given."""
    rule = config.stop_rule or (StopRule.quick() if config.quick else StopRule())
    how = {"device": config.device, "threads": threads, "stop_rule": rule, "trust_code": config.trust_code}
    if export_dir is None:
        architecture, ref = load_architecture(config.arch or "mlp")
        generator, discriminator = architecture.build(seed=0)
        with console.status("exporting a fresh seeded model"):
            export_models(ExportRequest(architecture, generator, discriminator, tmp / "export", arch_ref=ref))
        eager = _present({"generator": generator, "discriminator": discriminator})
        return Subject(tmp / "export", read_manifest(tmp / "export"), eager, **how)
    manifest = read_manifest(export_dir)
    parity_gate(manifest, config.strict, warn=lambda line: console.print(f"[yellow]warning:[/] {line}"))
    architecture = _architecture_for(manifest, config.arch)
    if architecture is None:
        return Subject(Path(export_dir), manifest, None, **how)
    generator, discriminator = architecture.build(seed=0)
    run_dir = Path(manifest["source"].get("run_dir") or "")
    if (run_dir / CHECKPOINT_JSON).exists():  # timing does not depend on the weights, but use them
        generator, discriminator = trained_models(load_checkpoint(run_dir), architecture)
    eager = _present({"generator": generator, "discriminator": discriminator})
    return Subject(Path(export_dir), manifest, eager, **how)


def _architecture_for(manifest: dict, spec: str | None) -> Architecture | None:
    """The user's --arch, or the manifest's when it names installed code (a built-in or entry
    point); a file path in a manifest is never imported on its own, since that runs its code."""
    if spec is None:
        spec = manifest["arch"].get("spec")
        if not spec or ":" in spec:
            return None
    architecture, _ = load_architecture(spec)
    exported = manifest_signature(manifest)
    if architecture.signature.to_dict() != exported.to_dict():
        ours, theirs = _calls(architecture.signature), _calls(exported)
        raise GanError(f"--arch {spec} is called as {ours}, but the export as {theirs}")
    return architecture


def _calls(signature) -> str:
    """G(z (100,)) -> (1, 28, 28): how a signature reads in one line."""
    inputs = ", ".join(f"{spec.name} {tuple(spec.shape)}" for spec in signature.generator_inputs)
    return f"G({inputs}) -> {tuple(signature.image_shape)}"


def _present(models: dict) -> dict:
    return {name: module for name, module in models.items() if module is not None}


def _add_speedups(rows: list[BenchRow]) -> None:
    eager = {(r.workload, r.batch_size): r.median_ms for r in rows if r.backend == "eager" and r.ok}
    for r in rows:
        if r.ok and (r.workload, r.batch_size) in eager:
            r.speedup_vs_eager = eager[(r.workload, r.batch_size)] / r.median_ms
