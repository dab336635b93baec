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
from gan.bench.footprint import memory_method
from gan.bench.isolated import Job, run_jobs
from gan.bench.load import load_warning, machine_load
from gan.bench.peak import matmul_peak_gflops
from gan.bench.results import BenchResults
from gan.bench.rows import BenchRow
from gan.bench.scenarios import SCENARIOS
from gan.bench.server import server_scenarios
from gan.bench.subject import Subject, SubjectSpec, open_subject
from gan.bench.timing import StopRule
from gan.console import make_progress
from gan.errors import GanError
from gan.export.backends import NAMES, Unavailable, backend_spec, bench_backends
from gan.export.exporter import ExportRequest, export_models
from gan.export.manifest import read_manifest
from gan.export.precision import PRECISIONS, parse_precisions
from gan.export.verify import parity_gate
from gan.models.spec import load_architecture
from gan.train.gemm_engine import choose_engine

MAX_BATCH = 65536
MAX_CONCURRENCY = 256
BENCH_SCENARIOS = ("loop", "server")
# How long the other processes' CPU use is sampled before and after a bench (--quick: shorter).
LOAD_SAMPLE_S, QUICK_LOAD_SAMPLE_S = 0.5, 0.2
# --quick's wall-clock budget for the rows: those not finished by then are stopped and listed as
# skipped (in-process: those not started). With start-up and the tables, the command ends within
# a minute on 2 cores.
QUICK_BUDGET_S = 50.0


@dataclass
class BenchConfig:
    device: torch.device
    batch_sizes: Sequence[int] | None = None  # None: 64 in a loop, 1 for the server's requests
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
    # Seconds the rows may take, wall-clock; a row still running then is stopped (in-process: the
    # rows not started are), and those rows are "skipped" with the reason. None: QUICK_BUDGET_S
    # with quick, else no limit.
    budget_s: float | None = None
    # "loop": each workload called in a loop (the default); "server": concurrent callers of G
    # (gan.bench.server), at each of `concurrency`, each level for `duration_s`.
    scenario: str = "loop"
    concurrency: Sequence[int] = (1, 2, 4)
    duration_s: float = 1.0
    # Each backend in a fresh process of its own (gan.bench.isolated), which the memory figures
    # need; False measures them all in this process, without memory figures.
    isolate: bool = True

    def __post_init__(self):
        if self.precisions is not None:
            self.precisions = parse_precisions(",".join(self.precisions), PRECISIONS)
        if self.batch_sizes is None:
            self.batch_sizes = (1,) if self.scenario == "server" else (64,)
        if not self.batch_sizes or any(not 1 <= b <= MAX_BATCH for b in self.batch_sizes):
            raise GanError(f"--batch-size needs sizes from 1 to {MAX_BATCH}, got {list(self.batch_sizes)}")
        if self.scenario not in BENCH_SCENARIOS:
            raise GanError(f"unknown scenario {self.scenario!r}; choose from {', '.join(BENCH_SCENARIOS)}")
        if self.scenario == "server":
            self.workloads = ["server"]
            if not self.concurrency or any(not 1 <= c <= MAX_CONCURRENCY for c in self.concurrency):
                raise GanError(
                    f"--concurrency needs levels from 1 to {MAX_CONCURRENCY}, got {list(self.concurrency)}"
                )
            if not 0 < self.duration_s <= 3600:
                raise GanError(f"--duration must be between 0 and 3600 seconds, got {self.duration_s}")
        unknown = [w for w in self.workloads if w not in SCENARIOS]
        if (unknown or not self.workloads) and self.scenario == "loop":
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
        wanted = bench_backends(self.device)
        if self.scenario == "server":  # it calls G alone: the backends with a forward pass
            wanted = [spec for spec in wanted if spec.forward is not None]
        return [spec.name for spec in wanted]

    @property
    def scenarios(self) -> list:
        if self.scenario == "server":
            return list(server_scenarios(list(self.concurrency), self.duration_s))
        return [scenario for workload in self.workloads for scenario in SCENARIOS[workload]]

    def wants(self, precision: str) -> bool:
        """The server scenario measures fp32 unless --precision names others."""
        if self.precisions is not None:
            return precision in self.precisions
        return self.scenario == "loop" or precision == "fp32"


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
    loop = config.scenario == "loop"  # the server scenario has no FLOP rates, so no peak
    peak, gemm = {"gflops": None, "engine": None}, {}
    try:
        with tempfile.TemporaryDirectory(prefix="gan-bench-") as tmp:
            spec = _subject_spec(config, export_dir, Path(tmp), threads, console)
            subject = open_subject(spec)
            flops = {batch: _flops(subject, batch) for batch in config.batch_sizes}
            if loop:
                with console.status("measuring the matmul peak and the GEMM engines"):
                    peak = matmul_peak_gflops(config.device, quick=config.quick)
                    gemm = _gemm_choices(subject, config)
            rows = _measure(config, subject, spec, flops, console, deadline)
            # Measured again at the end, keeping the best: a peak taken while something else ran
            # reads low, and every row would then read high against it.
            if loop and time.monotonic() < deadline:
                with console.status("measuring the matmul peak again"):
                    peak = best_peak(peak, matmul_peak_gflops(config.device, quick=config.quick))
    finally:
        torch.set_num_threads(previous_threads)
    if loop:
        for row in rows:
            _against_peak(row, peak)
    _add_speedups(rows)
    load = {"before": load_before, "after": machine_load(sample_s)}
    load["warning"] = load_warning(load["before"], load["after"])
    memory = memory_method(config.device) if config.isolate else None
    return BenchResults(
        environment={
            **environment(config.device, threads, peak),
            "gemm_engine": gemm,
            "load": load,
            "memory": memory,
        },
        config={
            "scenario": config.scenario,
            "batch_sizes": list(config.batch_sizes),
            "device": str(config.device),
            "workloads": list(config.workloads),
            "backends": config.backend_names,
            "backends_named": list(config.backends or []),
            "precisions_named": list(config.precisions or []),
            "quick": config.quick,
            "budget_s": config.budget_s,
            "isolated": config.isolate,
            "concurrency": None if loop else list(config.concurrency),
            "duration_s": None if loop else config.duration_s,
            "arch": subject.manifest["arch"],
            "export_dir": str(export_dir) if export_dir else None,
            "stop_rule": vars(subject.stop_rule),
            "flops": {str(b): f for b, f in flops.items()},
            "quality_cost": quality_costs(subject.manifest),
        },
        rows=rows,
    )


def _measure(
    config: BenchConfig,
    subject: Subject,
    spec: SubjectSpec,
    flops: dict,
    console: Console,
    deadline: float = math.inf,
) -> list[BenchRow]:
    """Every scenario of the chosen workloads, through every chosen backend, at every batch: each
    backend, precision and kind of workload in a fresh process (gan.bench.isolated) unless
    `config.isolate` is off. A row not finished by `deadline` (time.monotonic) is "skipped" (in
    this process: one not started by then)."""
    backends = [backend_spec(name) for name in config.backend_names]
    plan = [
        (index, scenario, backend.name, batch, precision)
        for index, (batch, scenario, backend, precision) in enumerate(
            (batch, scenario, backend, precision)
            for batch in config.batch_sizes
            for scenario in config.scenarios
            for backend in backends
            for precision in scenario.precisions(subject, backend)
            if config.wants(precision)
        )
    ]
    rows: dict[int, BenchRow] = {}
    with make_progress(console, transient=True) as progress:
        task = progress.add_task("benchmarking", total=len(plan), status="")

        def on_row(index: int, row: BenchRow | None, status: str) -> None:
            if row is None:
                progress.update(task, status=status)
                return
            scenario, batch = plan[index][1], plan[index][3]
            rows[index] = _scaled(row, flops[batch].get(scenario.flops_key))
            progress.advance(task)

        if config.isolate:
            run_jobs(_jobs(plan, spec, deadline, config.budget_s), on_row)
        else:
            for index, scenario, backend, batch, precision in plan:
                on_row(index, None, f"{scenario.workload} / {backend} / batch {batch}")
                if time.monotonic() >= deadline:
                    row = scenario.skipped(backend_spec(backend), batch, precision, config.budget_s)
                else:
                    row = scenario.run(subject, backend_spec(backend), batch, precision)
                on_row(index, row, "")
    return [rows[index] for index, *_ in plan]


def _jobs(plan: list, spec: SubjectSpec, deadline: float, budget_s: float | None) -> list[Job]:
    """The plan's rows grouped per fresh process: one backend, one precision, one kind of workload."""
    groups: dict[tuple, list] = {}
    for entry in plan:
        _, scenario, backend, _, precision = entry
        groups.setdefault((backend, precision, scenario.family), []).append(entry)
    return [Job(spec, rows, deadline, budget_s) for rows in groups.values()]


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


def _subject_spec(
    config: BenchConfig, export_dir: Path | None, tmp: Path, threads: int, console: Console
) -> SubjectSpec:
    """How to open the manifest's artifacts, or a fresh seeded model exported into `tmp` first
    when none is given (the same seed gives the same eager modules wherever it is opened)."""
    rule = config.stop_rule or (StopRule.quick() if config.quick else StopRule())
    if export_dir is None:
        architecture, ref = load_architecture(config.arch or "mlp")
        generator, discriminator = architecture.build(seed=0)
        with console.status("exporting a fresh seeded model"):
            export_models(ExportRequest(architecture, generator, discriminator, tmp / "export", arch_ref=ref))
        return SubjectSpec(
            tmp / "export", config.arch or "mlp", config.device, threads, rule, config.trust_code
        )
    manifest = read_manifest(export_dir)
    parity_gate(manifest, config.strict, warn=lambda line: console.print(f"[yellow]warning:[/] {line}"))
    return SubjectSpec(Path(export_dir), config.arch, config.device, threads, rule, config.trust_code)


def _add_speedups(rows: list[BenchRow]) -> None:
    eager = {(r.workload, r.batch_size): r.median_ms for r in rows if r.backend == "eager" and r.ok}
    for r in rows:
        if r.ok and (r.workload, r.batch_size) in eager:
            r.speedup_vs_eager = eager[(r.workload, r.batch_size)] / r.median_ms
