"""The server scenario: N concurrent callers of one loaded G, their throughput and tail latency,
and a backend that breaks under them reported as a failed row."""

import json
import threading

import pytest
from helpers import CPU, assert_user_error, gan

from gan.bench.runner import BenchConfig, run_bench
from gan.bench.server import Server


@pytest.fixture(scope="module")
def export_dir(exported_run):
    return exported_run / "export"


def test_a_backend_that_breaks_under_concurrent_callers_is_a_failed_row(export_dir, monkeypatch):
    """One shared request, as a runtime without a request per caller has: a second caller finds it
    busy. The row at 2 callers fails with the reason; the row at 1 caller runs."""
    callers = Server._callers

    def shared_request(self, subject, built, batch):
        runs, references = callers(self, subject, built, batch)
        busy = threading.Lock()

        def one_at_a_time(run):
            def call():
                if not busy.acquire(blocking=False):
                    raise RuntimeError("Infer Request is busy")
                try:
                    return run()
                finally:
                    busy.release()

            return call

        return [one_at_a_time(run) for run in runs], references

    monkeypatch.setattr(Server, "_callers", shared_request)
    config = BenchConfig(
        device=CPU,
        scenario="server",
        concurrency=[1, 2],
        duration_s=0.5,
        backends=["eager"],
        isolate=False,  # the patch lives in this process
    )
    rows = {row.concurrency: row for row in run_bench(config, export_dir).rows}
    assert rows[1].ok, rows[1].reason
    assert rows[2].status == "error"
    assert rows[2].reason == "under 2 concurrent caller(s): RuntimeError: Infer Request is busy"


def test_a_caller_given_another_answer_fails_the_row():
    import torch

    calls = {"n": 0}

    def drifting():
        calls["n"] += 1
        return torch.full((1, 4), float(calls["n"]))

    from gan.bench.server import ConcurrencyFailure

    with pytest.raises(ConcurrencyFailure, match="caller 1's result differs"):
        Server(1, 0.05)._serve([drifting], [torch.zeros(1, 4)])


def test_a_stochastic_generator_is_checked_by_its_distribution():
    """A G that draws noise inside forward (declared stochastic) answers with another picture each
    call: equal values would fail every row, the distribution check of gan verify does not."""
    import torch

    from gan.bench.server import ConcurrencyFailure, _same, _same_distribution

    draws = torch.Generator().manual_seed(0)
    picture = torch.tanh(torch.randn(1, 3, 32, 32, generator=draws))

    def noisy():  # the picture, with a little noise drawn inside each call, as noise injection does
        return picture + 0.05 * torch.randn(1, 3, 32, 32, generator=draws)

    reference = noisy()
    Server(2, 0.05)._serve([noisy, noisy], [reference, reference], _same_distribution)
    with pytest.raises(ConcurrencyFailure, match="differs"):
        Server(1, 0.05)._serve([noisy], [reference], _same)


def test_throughput_and_p99_at_each_level_printed_and_saved(export_dir, tmp_path):
    out = tmp_path / "server.json"
    args = ["--scenario", "server", "--concurrency", "1,2", "--duration", "0.3"]
    result = gan(
        "bench", export_dir, "--device", "cpu", *args, "--backends", "eager,onnxruntime", "--json", out
    )
    assert result.exit_code == 0, result.output
    assert "samples/s" in result.output and "p99" in result.output and "callers" in result.output
    data = json.loads(out.read_text())
    assert data["config"]["scenario"] == "server" and data["config"]["concurrency"] == [1, 2]
    rows = {(r["backend"], r["concurrency"]): r for r in data["results"]}
    assert set(rows) == {(b, c) for b in ("eager", "onnxruntime") for c in (1, 2)}
    for r in rows.values():
        assert r["status"] == "ok", r["reason"]
        assert r["workload"] == "server G" and r["batch_size"] == 1 and r["precision"] == "fp32"
        assert r["throughput_per_s"] > 0 and 0 < r["median_ms"] <= r["p99_ms"]
        assert r["iterations"] >= 2 * r["concurrency"]  # every caller answered
        assert r["load_ms"] > 0 and r["rss_mb"] is not None and r["peak_rss_mb"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "offline"], "unknown scenario 'offline'; choose from loop, server"),
        (["--scenario", "server", "--concurrency", "0"], "--concurrency needs levels from 1 to 256, got [0]"),
        (["--scenario", "server", "--duration", "0"], "--duration must be between 0 and 3600 seconds"),
    ],
)
def test_server_bad_arguments(args, message):
    assert_user_error(gan("bench", "--device", "cpu", *args), message)
