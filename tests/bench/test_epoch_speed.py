"""`make bench-epoch`'s breakdown: the compiled iterations the bench times, the loop's overhead
measured on its own, the epoch's end, and what is left unexplained; the iteration's rate is set
against the peak."""

from rich.console import Console

from gan.bench.epoch_speed import EpochTiming, _breakdown


def test_breakdown_splits_an_epoch_into_iterations_overhead_and_its_end():
    timing = EpochTiming(steps_s=3.0, artifacts_s=0.1, first_extra_s=4.0, steps=1000, gemm="aten")
    console = Console(record=True, width=200)
    console.print(
        _breakdown(
            timing, iteration_ms=2.5, overhead_ms=0.1, iteration_flops=100_000_000, peak={"gflops": 80.0}
        )
    )
    text = " ".join(console.export_text().split())  # the table's padding aside
    assert "compiled iterations (40 GFLOP/s, 50% of peak)" in text
    assert "peak) │ 2.50 │ 2.500 │" in text  # 1000 x 2.5 ms
    assert "alternately │ 0.10 │ 0.100 │" in text
    assert "(the machine's drift) │ 0.40 │ 0.400 │" in text
    assert "epoch │ 3.10 │ 3.100 │" in text  # the epoch, its end included
    assert timing.epoch_s == 3.1
