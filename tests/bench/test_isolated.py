"""Each backend in a fresh process: a native crash fails one row and the rest go on, the budget
stops a row that runs past it, and the caller's script is not run again."""

import os
import subprocess
import sys
import time

import pytest
from helpers import CPU, REPO

from gan.bench.runner import BenchConfig, run_bench
from gan.bench.timing import StopRule

# The built-in MLP, whose G crashes the process (as a runtime's native fault would) anywhere but
# in the process that wrote this file: the bench's own process counts its FLOPs unharmed.
CRASHING = """
import dataclasses, os, signal
from gan.models.mlp import MLPGenerator
from gan.models.spec import load_architecture

MLP, _ = load_architecture("mlp")


class Crashing(MLPGenerator):  # the same weights, so the run's checkpoint loads
    def forward(self, z):
        if os.getpid() != {parent}:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().forward(z)


CRASHING = dataclasses.replace(
    MLP, name="crashing", generator=lambda: Crashing(MLP.z_shape[0], MLP.image_shape)
)
"""


@pytest.mark.slow  # three fresh processes after the crash; about 13 s on 2 cores
def test_a_native_crash_fails_its_row_and_the_rest_go_on(tmp_path, exported_run):
    (tmp_path / "crashing.py").write_text(CRASHING.format(parent=os.getpid()))
    config = BenchConfig(
        device=CPU,
        arch=f"{tmp_path / 'crashing.py'}:CRASHING",
        workloads=["forward"],
        backends=["eager", "onnxruntime"],
        precisions=["fp32"],
        batch_sizes=[1],
        stop_rule=StopRule(warmup=1, min_iters=3, min_time_s=0.0),
    )
    rows = {(row.workload, row.backend): row for row in run_bench(config, exported_run / "export").rows}
    crashed = rows["forward G", "eager"]
    assert crashed.status == "error"
    assert crashed.reason == "the process measuring eager died: signal SIGSEGV"
    # D alone never calls G: it runs in the process started after the crash; the chain calls G.
    assert rows["forward D", "eager"].ok and rows["forward D(G(z))", "eager"].status == "error"
    assert all(rows[workload, "onnxruntime"].ok for workload in ("forward G", "forward D"))


def test_the_budget_stops_a_row_that_runs_past_it(exported_run):
    from gan.bench.isolated import Job, run_jobs
    from gan.bench.scenarios import SCENARIOS
    from gan.bench.subject import SubjectSpec

    # Each row would take 30 s; the budget ends 10 s from now (the first process starts in a few),
    # while the first one runs.
    rule = StopRule(warmup=1, min_iters=3, min_time_s=30.0)
    spec = SubjectSpec(exported_run / "export", None, CPU, 1, rule)
    plan = [(index, scenario, "eager", 1, "fp32") for index, scenario in enumerate(SCENARIOS["forward"])]
    events = []
    run_jobs([Job(spec, plan, time.monotonic() + 10, 10.0)], lambda *event: events.append(event))
    # The first row began: left to run, it would have ended "ok"; it was stopped instead.
    assert events[0][:2] == (0, None)
    ended = [row for _, row, _ in events if row is not None]
    assert [row.status for row in ended] == ["skipped"] * 3
    assert all(row.reason == "the 10 s budget ran out first (--budget raises it)" for row in ended)


@pytest.mark.slow  # a fresh interpreter importing torch and the toolkit; about 15 s on 2 cores
def test_a_script_without_a_main_guard_is_not_run_again_by_the_bench(tmp_path, exported_run):
    """The bench's fresh processes must not re-run the script that called it."""
    script = tmp_path / "bench_it.py"
    marker = tmp_path / "runs.txt"
    script.write_text(
        "from pathlib import Path\n"
        "from gan.bench.runner import BenchConfig, run_bench\n"
        "from gan.bench.timing import StopRule\n"
        "import torch\n"
        f"with open({str(marker)!r}, 'a') as f: f.write('ran\\n')\n"
        "config = BenchConfig(device=torch.device('cpu'), workloads=['forward'], backends=['eager'],"
        " precisions=['fp32'], batch_sizes=[1], quick=True, stop_rule=StopRule(warmup=1, min_iters=3,"
        " min_time_s=0.0))\n"
        f"rows = run_bench(config, Path({str(exported_run / 'export')!r})).rows\n"
        "assert all(row.ok for row in rows), [row.reason for row in rows]\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "ran\n"
