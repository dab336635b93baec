"""What a loaded model costs: load time, first call, resident memory and its peak, artifact size,
each backend measured in a fresh process of its own."""

import pytest
from helpers import CPU

from gan.bench.footprint import MB, MemoryProbe
from gan.bench.runner import BenchConfig, run_bench
from gan.bench.timing import StopRule

FAST = StopRule(warmup=3, min_iters=5, min_time_s=0.0)
# Longer than any of these benches takes: every row runs, however busy the machine.
NO_BUDGET = 1e6
FIGURES = ("load_ms", "first_call_ms", "rss_mb", "peak_rss_mb")

# G holds 50.4 M fp32 weights (about 192 MB), nearly all in its second layer; D is tiny.
HEAVY = """
from torch import nn
from gan import Architecture

HEAVY = Architecture(
    name="heavy",
    generator=lambda: nn.Sequential(
        nn.Linear(16, 25000), nn.LeakyReLU(0.2), nn.Linear(25000, 2000), nn.Tanh(),
        nn.Unflatten(1, (1, 40, 50)),
    ),
    discriminator=lambda: nn.Sequential(nn.Flatten(), nn.Linear(2000, 1), nn.Sigmoid()),
    z_shape=(16,),
    image_shape=(1, 40, 50),
)
"""


def test_every_forward_row_of_the_demo_export_says_what_it_costs(exported_run):
    config = BenchConfig(
        device=CPU,
        workloads=["forward"],
        backends=["eager", "torchscript", "exported-program", "onnxruntime"],
        precisions=["fp32"],
        quick=True,
        budget_s=NO_BUDGET,
        stop_rule=FAST,
    )
    results = run_bench(config, exported_run / "export")
    assert results.config["isolated"] and results.environment["memory"]["rss"]
    rows = [row for row in results.rows]
    assert {row.backend for row in rows if row.ok} == set(config.backends)
    for row in rows:
        assert row.ok, row.reason
        for name in FIGURES:
            assert getattr(row, name) is not None, (row.workload, row.backend, name)
        assert row.load_ms > 0 and row.first_call_ms > 0 and row.peak_rss_mb >= 0
        assert row.artifact_mb > 0, (row.workload, row.backend)
    by = {(row.workload, row.backend): row for row in rows}
    for backend in config.backends:  # the chain reads G's and D's
        chain = by["forward D(G(z))", backend].artifact_mb
        assert chain == pytest.approx(
            by["forward G", backend].artifact_mb + by["forward D", backend].artifact_mb
        )
    # The eager modules ship as their weights: G's 114,064 fp32 parameters.
    assert by["forward G", "eager"].artifact_mb == pytest.approx(114_064 * 4 / MB)


def test_a_200_mb_model_reads_as_200_mb_and_does_not_inflate_the_next_backend(tmp_path):
    from gan.export.exporter import ExportRequest, export_models
    from gan.models.spec import load_architecture

    (tmp_path / "heavy.py").write_text(HEAVY)
    spec = f"{tmp_path / 'heavy.py'}:HEAVY"
    architecture, ref = load_architecture(spec)
    generator, discriminator = architecture.build(seed=0)
    weights_mb = sum(p.numel() * p.element_size() for p in generator.parameters()) / MB
    assert 190 < weights_mb < 195
    request = ExportRequest(
        architecture, generator, discriminator, tmp_path / "export", arch_ref=ref, formats="torchscript"
    )
    export_models(request)
    config = BenchConfig(
        device=CPU,
        arch=spec,
        batch_sizes=[1],
        workloads=["forward"],
        backends=["eager", "torchscript"],
        precisions=["fp32"],
        quick=True,
        budget_s=NO_BUDGET,
        stop_rule=FAST,
    )
    del generator, discriminator
    rows = {
        row.backend: row for row in run_bench(config, tmp_path / "export").rows if row.workload == "forward G"
    }
    for backend in ("eager", "torchscript"):  # torchscript measured after eager
        row = rows[backend]
        assert row.ok, row.reason
        assert row.rss_mb == pytest.approx(weights_mb, rel=0.15), backend
        # Its peak holds one copy of the weights, not the one the backend before it loaded too.
        assert weights_mb * 0.85 <= row.peak_rss_mb < weights_mb * 1.5, backend
    assert rows["torchscript"].artifact_mb == pytest.approx(weights_mb, rel=0.02)
    assert rows["eager"].artifact_mb == pytest.approx(weights_mb)


def test_the_peak_sees_an_allocation_that_was_freed_before_it_ended():
    import mmap

    probe = MemoryProbe(CPU)
    with probe.peak() as peak:
        # Fresh pages, written: an allocator might reuse memory this process already holds.
        block = mmap.mmap(-1, 64 * MB)
        block.write(b"\1" * (64 * MB))
        block.close()
    if probe.exact_peak:
        assert peak.rss_mb >= 60
    assert probe.rss_mb() < 30
