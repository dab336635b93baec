"""The benchmark machinery: statistics, stop rule, FLOP counts, result fields, tables, charts,
compare, and the CLI's errors."""

import json
import os
import statistics

import pytest
from helpers import CPU, REPO, assert_user_error, fresh_models, gan

from gan.bench.compare import compare_results
from gan.bench.flops import workload_flops
from gan.bench.results import BenchResults
from gan.bench.runner import BenchConfig, run_bench
from gan.bench.timing import Measurement, StopRule, measure
from gan.bench.train_variants import TrainSetup
from gan.errors import GanError
from gan.train.loss import GanLoss

EXAMPLES = REPO / "examples"
FAST = StopRule(warmup=10, min_iters=5, min_time_s=0.0)
# Longer than any of these benches takes: every row runs, however busy the machine.
NO_BUDGET = 1e6
REQUIRED = {
    "workload",
    "backend",
    "device",
    "batch_size",
    "status",
    "reason",
    "median_ms",
    "p90_ms",
    "p99_ms",
    "iqr_ms",
    "throughput_per_s",
    "speedup_vs_eager",
    "gflops",
    "pct_of_peak",
    "peak_under_measured",
    "precision",
    "samples_ms",
    "noisy",
}


def test_statistics_of_known_samples():
    m = Measurement(samples_ms=[float(v) for v in range(1, 101)], first_call_ms=500.0)
    s = m.summary()
    assert (
        s["median_ms"] == 50.5 and s["p90_ms"] == pytest.approx(90.1) and s["p99_ms"] == pytest.approx(99.01)
    )
    assert s["iqr_ms"] == pytest.approx(49.5) and s["noisy"] is True and s["first_call_ms"] == 500.0
    steady = Measurement(samples_ms=[10.0, 10.1, 10.0, 9.9, 10.0], first_call_ms=1.0).summary()
    assert steady["noisy"] is False


def test_stop_rule_needs_both_count_and_time():
    calls = []
    m = measure(lambda: calls.append(1), CPU, StopRule(warmup=10, min_iters=7, min_time_s=0.0))
    assert len(m.samples_ms) == 7 and len(calls) == 1 + 10 + 7  # first call + warm-up + timed
    m = measure(lambda: None, CPU, StopRule(warmup=10, min_iters=1, min_time_s=0.05))
    assert len(m.samples_ms) > 1


def test_a_slow_call_under_a_time_cap_keeps_the_fewest_runs():
    """--quick's cap: a call far slower than the cap stops each phase at its minimum count."""
    import time

    from gan.bench.timing import MIN_SAMPLES, MIN_WARMUP

    calls = []
    rule = StopRule(warmup=10, min_iters=20, min_time_s=0.0, max_time_s=0.001)
    m = measure(lambda: (calls.append(1), time.sleep(0.002)), CPU, rule)
    assert len(m.samples_ms) == MIN_SAMPLES and len(calls) == 1 + MIN_WARMUP + MIN_SAMPLES
    # A fast call never reaches the cap: the counts are the rule's own.
    calls.clear()
    m = measure(
        lambda: calls.append(1), CPU, StopRule(warmup=10, min_iters=20, min_time_s=0.0, max_time_s=60)
    )
    assert len(m.samples_ms) == 20 and len(calls) == 1 + 10 + 20


def test_flop_counts_match_the_mlp_by_hand():
    architecture, generator, discriminator = fresh_models("mlp")
    setup = TrainSetup(generator, discriminator, GanLoss(), architecture.signature, 64, CPU)
    flops = workload_flops(setup)
    g = 2 * 64 * (100 * 128 + 128 * 784)
    d = 2 * 64 * (784 * 128 + 128 * 1)
    assert flops["generator"] == g and flops["discriminator"] == d and flops["chain"] == g + d
    # D step, counted by torch while it runs: G forward, D forward on 2B (real and fake in one
    # pass), D's weight gradients on 2B and the input gradient of D's 2nd layer (its first layer's
    # input needs none).
    assert flops["d_step"] == g + 2 * d + 2 * d + 2 * 2 * 64 * 128
    # The iteration reuses the D step's fakes for the G step: one G forward fewer.
    assert flops["iteration"] == flops["d_step"] + flops["g_step"] - g


@pytest.mark.parametrize("arch", ["cgan", f"{EXAMPLES / 'conditional_dcgan.py'}:TINY_CDCGAN"])
def test_traced_training_of_a_conditional_gan_gets_its_labels(arch):
    """TorchScript's train rows trace G and D as the GAN step calls them, labels included, and
    train exactly as the eager modules do."""
    import torch

    from gan.bench.train_variants import make_train_variant

    architecture, generator, discriminator = fresh_models(arch)
    setup = TrainSetup(generator, discriminator, GanLoss(), architecture.signature, 8, CPU)
    losses = {}
    for backend in ("eager", "torchscript"):
        torch.manual_seed(0)
        losses[backend] = make_train_variant(backend, setup).runs["d_step"]()
    assert torch.allclose(torch.as_tensor(losses["torchscript"]), torch.as_tensor(losses["eager"]), atol=1e-6)


def test_compiled_training_says_it_cannot_take_a_gradient_penalty_and_runs_the_g_step():
    from gan.bench.train_variants import make_train_variant
    from gan.train.loss import loss_for

    architecture, generator, discriminator = fresh_models(f"{EXAMPLES / 'wgan_gp.py'}:TINY_WGAN_GP")
    loss = loss_for(architecture.loss, architecture.discriminator_output, None, None)
    variant = make_train_variant(
        "compile", TrainSetup(generator, discriminator, loss, architecture.signature, 8, CPU)
    )
    assert set(variant.runs) == {"g_step"} and set(variant.not_applicable) == {"d_step", "iteration"}
    assert "double backward" in variant.not_applicable["d_step"]


@pytest.fixture(scope="module")
def export_dir(exported_run):
    return exported_run / "export"


@pytest.fixture(scope="module")
def report(export_dir):
    config = BenchConfig(
        device=CPU,
        backends=["eager", "eager-onednn", "torchscript", "onnxruntime", "cudagraph"],
        quick=True,  # the peak at one size
        budget_s=NO_BUDGET,  # a busy CI may take longer than --quick's budget: every row must run
        stop_rule=FAST,
    )
    return run_bench(config, export_dir)


def test_report_rows_and_fields(report):
    results = [row.to_dict() for row in report.rows]
    assert {r["workload"] for r in results} == {
        "forward G",
        "forward D",
        "forward D(G(z))",
        "train D step",
        "train G step",
        "train iteration",
    }
    for r in results:
        assert REQUIRED <= r.keys()
    ok = [r for r in results if r["status"] == "ok"]
    # fp32 rows; a CPU with native bf16 (AVX512-BF16, AMX) adds eager-bf16 rows besides them.
    fp32 = {r["backend"] for r in ok if r["precision"] == "fp32"}
    assert fp32 == {"eager", "eager-onednn", "torchscript", "onnxruntime"}
    onednn = [r for r in ok if r["backend"] == "eager-onednn"]
    assert len(onednn) == 6, "eager-onednn runs every forward and train workload"
    assert report.config["stop_rule"] == vars(FAST)  # an explicit rule wins over --quick's
    choice = report.environment["gemm_engine"]["64"]  # what gan train --gemm auto takes here
    assert choice["engine"] in ("aten", "onednn") and set(choice["seconds"]) == {"aten", "onednn"}
    for r in ok:
        # The summary is the raw samples' own statistics, and the samples obey the stop rule.
        assert len(r["samples_ms"]) >= FAST.min_iters
        assert r["median_ms"] == pytest.approx(statistics.median(r["samples_ms"]))
        assert min(r["samples_ms"]) <= r["median_ms"] <= r["p90_ms"] <= r["p99_ms"] <= max(r["samples_ms"])
        # % of peak is this row's rate over the run's peak; above 100% (a peak measured low on a
        # busy machine: a timing, not a test) it is flagged instead of printed.
        pct = 100 * r["gflops"] / report.environment["matmul_peak"]["gflops"]
        if r["precision"] != "fp32":  # no bf16 peak is measured, so no percentage of one
            assert r["pct_of_peak"] is None
        elif pct > 100:
            assert r["pct_of_peak"] is None and r["peak_under_measured"]
        else:
            assert r["pct_of_peak"] == pytest.approx(pct) and not r["peak_under_measured"]
    ort_train = [r for r in results if r["backend"] == "onnxruntime" and r["workload"].startswith("train")]
    assert len(ort_train) == 3 and all(r["status"] == "n/a" and "training" in r["reason"] for r in ort_train)
    graphs = [r for r in results if r["backend"] == "cudagraph"]
    assert graphs and all(r["status"] == "unavailable" and "cuda" in r["reason"].lower() for r in graphs)
    peak = report.environment["matmul_peak"]
    assert peak["gflops"] == max(
        max(v for k, v in e.items() if k != "error") for e in peak["engines"].values()
    )
    assert {"torch.mm", "onnxruntime MLAS"} <= peak["engines"].keys()


def test_results_save_and_load_themselves(report, tmp_path):
    report.save(tmp_path / "bench.json")
    loaded = BenchResults.load(tmp_path / "bench.json")
    assert loaded.to_dict() == json.loads(json.dumps(report.to_dict()))
    assert [r.backend for r in loaded.rows] == [r.backend for r in report.rows]


def test_compare_flags_regressions(report):
    slower = BenchResults(**{**vars(report), "rows": [type(r)(**r.to_dict()) for r in report.rows]})
    for r in slower.rows:
        if r.ok and r.backend == "eager":
            r.median_ms *= 1.5
    _, regressions = compare_results(report, slower, fail_above_pct=20)
    assert {r.row.backend for r in regressions} == {"eager"} and {r.gate for r in regressions} == {"time"}
    _, none = compare_results(report, report, fail_above_pct=20)
    assert none == []


@pytest.fixture(scope="module")
def cli_bench(tmp_path_factory):
    """`gan bench --json --plot` of a fresh model's forward passes, eager and ONNX Runtime."""
    tmp = tmp_path_factory.mktemp("cli-bench")
    out, plot = tmp / "b.json", tmp / "b.png"
    args = ["--device", "cpu", "--quick", "--backends", "eager,onnxruntime", "--workloads", "forward"]
    result = gan("bench", *args, "--precision", "fp32", "--json", out, "--plot", plot)
    assert result.exit_code == 0, result.output
    return out, plot


def test_bench_cli_json_plot_and_compare(cli_bench, tmp_path):
    out, plot = cli_bench
    assert plot.stat().st_size > 0
    data = json.loads(out.read_text())
    assert {r["backend"] for r in data["results"]} == {"eager", "onnxruntime"}
    assert gan("bench", "compare", out, out).exit_code == 0
    slower = json.loads(out.read_text())
    for r in slower["results"]:
        r["median_ms"] *= 2
    (tmp_path / "slow.json").write_text(json.dumps(slower))
    result = gan("bench", "compare", out, tmp_path / "slow.json", "--fail-above", "10")
    assert result.exit_code == 1 and "regressed in time by more than 10%" in result.output
    (tmp_path / "config.json").write_text('{"format": "gan-toolkit-run"}')
    assert_user_error(gan("bench", "compare", tmp_path / "config.json", out), "not a gan bench")


def test_compare_gates_memory_and_load_each_with_its_own_threshold(cli_bench, tmp_path):
    out, _ = cli_bench
    data = json.loads(out.read_text())
    assert data["format_version"] == 2
    rows = [r for r in data["results"] if r["status"] == "ok"]
    assert rows and all(r["peak_rss_mb"] is not None and r["load_ms"] is not None for r in rows)
    assert gan("bench", "compare", out, out).exit_code == 0  # unchanged: passes

    def planted(field, factor, floor):
        changed = json.loads(out.read_text())
        grown = 0
        for r in changed["results"]:
            if r["status"] == "ok" and r[field] >= floor:
                r[field] *= factor
                grown += 1
        assert grown, f"no row has {field} >= {floor}"
        path = tmp_path / f"{field}.json"
        path.write_text(json.dumps(changed))
        return path

    # A 30% memory regression fails the default memory gate (20%), a time gate of 10% aside.
    result = gan("bench", "compare", out, planted("peak_rss_mb", 1.3, 5.0), "--fail-above", "10")
    assert result.exit_code == 1, result.output
    assert "regressed in memory by more than 20%" in " ".join(result.output.split())
    assert (
        gan("bench", "compare", out, planted("peak_rss_mb", 1.3, 5.0), "--fail-above-memory", "40").exit_code
        == 0
    )
    result = gan("bench", "compare", out, planted("load_ms", 2.0, 3.0))
    assert result.exit_code == 1 and "regressed in load by more than 50%" in " ".join(result.output.split())


def test_a_format_1_file_still_compares_and_a_newer_one_is_one_line(report, tmp_path):
    old = report.to_dict()
    del old["format_version"]
    for r in old["results"]:  # what format 1 wrote: cold_ms, no memory or load figures
        r["cold_ms"] = r.pop("first_call_ms")
        for key in ("load_ms", "rss_mb", "peak_rss_mb", "artifact_mb", "concurrency"):
            r.pop(key, None)
    (tmp_path / "v1.json").write_text(json.dumps(old))
    loaded = BenchResults.load(tmp_path / "v1.json")
    assert [r.first_call_ms for r in loaded.rows] == [r.first_call_ms for r in report.rows]
    report.save(tmp_path / "v2.json")
    result = gan("bench", "compare", tmp_path / "v1.json", tmp_path / "v2.json")
    assert result.exit_code == 0, result.output
    newer = {**report.to_dict(), "format_version": 3}
    (tmp_path / "v3.json").write_text(json.dumps(newer))
    assert_user_error(
        gan("bench", "compare", tmp_path / "v3.json", tmp_path / "v2.json"),
        "is bench results of format 3, newer than this toolkit reads (2): upgrade gan-toolkit",
    )


def test_named_unavailable_backend_exits_nonzero(export_dir):
    result = gan(
        "bench", export_dir, "--device", "cpu", "--quick", "--backends", "cudagraph", "--workloads", "forward"
    )
    assert result.exit_code == 1
    assert "unavailable: cudagraph" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backends", "tensorrt"], "unknown backend(s) ['tensorrt']"),
        (["--workloads", "backward"], "unknown workload(s) ['backward']"),
        (["--batch-size", "0"], "--batch-size needs sizes from 1 to 65536, got [0]"),
        (["--batch-size", "64,x"], "--batch-size takes whole numbers separated by commas"),
    ],
)
def test_bench_bad_arguments(args, message):
    assert_user_error(gan("bench", "--device", "cpu", *args), message)


def test_bench_config_rejects_bad_threads():
    with pytest.raises(GanError, match="--threads must be between 1 and 1024"):
        BenchConfig(device=CPU, threads=0)


def test_batch_sweep_rows_carry_their_batch_and_tables_fit_100_columns(tmp_path, export_dir):
    from rich.console import Console

    from gan.bench.chart import save_chart
    from gan.bench.table import bench_table
    from gan.export.parity import Comparison, parity_table

    config = BenchConfig(
        device=CPU,
        batch_sizes=[1, 8],
        workloads=["forward"],
        backends=["onnxruntime", "cudagraph"],
        quick=True,
        budget_s=NO_BUDGET,
        stop_rule=FAST,
    )
    results = run_bench(config, export_dir)
    ok = [r for r in results.rows if r.ok]
    assert sorted({r.batch_size for r in ok}) == [1, 8] and len(ok) == 6
    for r in ok:
        assert r.throughput_per_s == pytest.approx(r.batch_size / (r.median_ms / 1e3))
    console = Console(width=100, record=True, file=open(os.devnull, "w"))
    console.print(bench_table(results))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    # One line per row: the cudagraph reason is a numbered note, printed once.
    assert sum("cudagraph runs on cuda" in line for line in lines) == 1
    costs = next(i for i, line in enumerate(lines) if line.strip() == "what each loaded model costs")
    timings, memory = lines[:costs], lines[costs:]
    assert sum(line.strip().startswith("forward G") for line in timings) == 4
    # The second table: a line per row that ran (onnxruntime at batch 1 and 8), with its figures.
    assert sum(line.strip().startswith("forward G") for line in memory) == 2
    save_chart(results, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    row = Comparison("generator", "onnxruntime-cudagraph", "cuda:0", 257, 2e-3, 1e-2, *[1e-7] * 7, True)
    console.print(parity_table([row]))
    assert max(len(line) for line in console.export_text().splitlines()) <= 100
