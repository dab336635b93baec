"""A bench on a busy machine says so: the load before and after, one warning line naming the busy
processes, and no row printed above 100% of a peak that was measured low."""

from __future__ import annotations

import subprocess
import sys
import time

from gan.bench.load import load_warning, machine_load, quiet
from gan.bench.rows import BenchRow
from gan.bench.runner import _against_peak, best_peak
from gan.report.tables import cell


def test_another_busy_process_is_named_and_warned_about():
    # Started through a shell that exits at once, so the spinner is not this process's child
    # (children, such as compile workers, are the bench's own work and never count).
    line = subprocess.run(
        ["sh", "-c", f"{sys.executable} -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pid = int(line.strip())
    try:
        time.sleep(0.3)
        load = machine_load(sample_s=0.5)
        spinning = [p for p in load["busy_processes"] if p["pid"] == pid]
        assert spinning and spinning[0]["core_share"] >= 0.5, load
        assert not quiet(load)
        warning = load_warning(load, load)
        assert warning.startswith("the machine was not quiet (") and "of a core" in warning
    finally:
        subprocess.run(["kill", str(pid)], check=False)


def test_a_quiet_record_gives_no_warning():
    calm = {"loadavg_1m": 0.1, "loadavg_5m": 0.1, "busy_processes": []}
    assert quiet(calm) and load_warning(calm, calm) is None


def test_rows_above_the_peak_are_flagged_not_printed():
    peak = best_peak({"gflops": 50.0, "engine": "a"}, {"gflops": 80.0, "engine": "b"})
    assert peak["gflops"] == 80.0 and peak["engine"] == "b" and peak["measured_gflops"] == [50.0, 80.0]
    fast = BenchRow("forward G", "onnxruntime", "cpu", 64, gflops=96.0)
    fine = BenchRow("forward G", "eager", "cpu", 64, gflops=40.0)
    int8 = BenchRow("forward G", "onnxruntime-int8-static", "cpu", 64, gflops=120.0, precision="int8-static")
    for row in (fast, fine, int8):
        _against_peak(row, peak)
    assert fast.pct_of_peak is None and fast.peak_under_measured
    assert cell(fast.to_dict(), "pct_of_peak", "{:.1f}%") == ">100%*"
    assert fine.pct_of_peak == 50.0 and not fine.peak_under_measured
    assert int8.pct_of_peak is None and not int8.peak_under_measured  # no int8 peak to hold it to
