"""Precision variants: int8 and fp16 files beside the fp32 export, each listed and hashed with how
it was made, held to its own parity budget by verify, benched as rows of their own, and their
quality cost measured by `gan eval --precision`; OpenVINO as an optional runtime."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import onnx
import pytest
import torch
from helpers import assert_user_error, fresh_models, gan, relist
from onnx import numpy_helper

from gan.bench.chart import pareto_front, save_chart, speed_quality_points
from gan.bench.results import BenchResults
from gan.bench.rows import BenchRow
from gan.bench.train_variants import TrainSetup, make_train_variant
from gan.device import bf16_problem
from gan.export.backends import ModelSource, NotApplicable, Unavailable, build_backends, parity_backends
from gan.export.backends.openvino import OPENVINO, openvino_problem
from gan.export.calibration import calibrations
from gan.export.manifest import read_manifest
from gan.export.parity import DEFAULT_TOLERANCES
from gan.export.precision import BUDGETS, VariantSkipped, build_variant
from gan.export.verify import verify_export
from gan.train.loss import GanLoss

CPU = torch.device("cpu")
VARIANTS = ("int8-dynamic", "int8-static", "fp16")


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory, trained_run) -> Path:
    """The trained MLP run, exported with every file precision."""
    run = tmp_path_factory.mktemp("variants") / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("export"))
    result = gan("export", run, "--precision", ",".join(("fp32", *VARIANTS)))
    assert result.exit_code == 0, result.output
    (run / "export-output.txt").write_text(result.output)
    return run


def test_export_measures_what_each_variant_costs(variant_run):
    output = " ".join((variant_run / "export-output.txt").read_text().split())
    for precision in VARIANTS:
        assert f"quality cost of {precision}: FCD " in output
        measured = json.loads((variant_run / f"eval-{precision}.json").read_text())
        assert measured["precision"] == precision and measured["n"] == 1000
        assert measured["cost"]["fcd_increase"] == pytest.approx(
            measured["cost"]["fcd"] - measured["cost"]["fcd_fp32"]
        )
        assert 20 < measured["cost"]["mean_psnr_db_vs_fp32"] <= 100
        assert set(measured["cost"]["discriminator_flips"]) == {"real", "generated"}
    # fp16 keeps 10 mantissa bits: the same images to the eye, the same FCD to 0.1%.
    fp16 = json.loads((variant_run / "eval-fp16.json").read_text())["cost"]
    assert abs(fp16["fcd_increase_pct"]) < 0.1 and fp16["passed"]


def test_each_variant_is_a_listed_hashed_file_with_its_recipe(variant_run):
    manifest = read_manifest(variant_run / "export")  # checks every listed file's sha256
    assert set(manifest["precisions"]) == set(VARIANTS)
    for model in ("generator", "discriminator"):
        for precision in VARIANTS:
            variant = manifest["models"][model]["variants"][precision]
            assert variant["file"] == f"{model}.{precision}.onnx" and variant["file"] in manifest["files"]
            assert variant["made_by"]["tool"].startswith(("onnxruntime.quantization", "onnxconverter_common"))
            onnx.checker.check_model(str(variant_run / "export" / variant["file"]))
    static = manifest["models"]["discriminator"]["variants"]["int8-static"]["made_by"]
    assert static["calibration"]["seed"] == 4321 and static["calibration"]["batches"] > 1
    assert "real fashion-mnist images" in static["calibration"]["inputs"]
    # The fp32 rule is the toolkit's, whatever variants were made.
    assert manifest["tolerances"] == {k: vars(v) for k, v in DEFAULT_TOLERANCES.items()}


def test_verify_holds_each_variant_to_its_own_budget(variant_run):
    report = verify_export(variant_run / "export")
    assert report.passed
    by_precision = {}
    for c in report.comparisons:
        by_precision.setdefault(c.precision, []).append(c)
    assert set(by_precision) == {"fp32", *VARIANTS}
    assert all(c.atol == DEFAULT_TOLERANCES["cpu"].atol for c in by_precision["fp32"])
    for precision in VARIANTS:
        budget = BUDGETS[precision]
        rows = by_precision[precision]
        assert {c.backend for c in rows} >= {f"onnxruntime-{precision}"}
        assert all(c.check == budget.error_stat and c.atol == budget.atol for c in rows)
    # int8 moves every pixel a little: far outside fp32's tolerance, inside its own budget.
    int8 = [c for c in by_precision["int8-static"] if c.model == "generator"]
    assert max(c.max_abs for c in int8) > 100 * DEFAULT_TOLERANCES["cpu"].atol


@pytest.mark.slow  # verify twice over every precision; the budgets' own rows are checked above
def test_a_variant_that_breaks_its_budget_fails_only_its_own_rows(variant_run, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(variant_run / "export", export)
    _scale_all_weights(export / "generator.int8-dynamic.onnx", 1.5)
    relist(export, "generator.int8-dynamic.onnx")
    result = gan("verify", export)
    assert result.exit_code == 1, result.output
    report = verify_export(export)
    failed = {(c.model, c.backend) for c in report.comparisons if not c.passed}
    assert ("generator", "onnxruntime-int8-dynamic") in failed
    assert {backend for _, backend in failed} == {"onnxruntime-int8-dynamic"}  # fp32 still passes


def test_a_missing_or_changed_variant_file_is_refused_in_one_line(variant_run, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(variant_run / "export", export)
    (export / "generator.fp16.onnx").write_bytes(b"not the file that was hashed")
    assert_user_error(gan("verify", export), "generator.fp16.onnx")
    (export / "generator.fp16.onnx").unlink()
    assert_user_error(gan("verify", export), "generator.fp16.onnx listed in")


def test_an_unknown_precision_is_refused_before_any_work(trained_run, tmp_path):
    out = tmp_path / "never"
    result = gan("export", trained_run, "--out", out, "--precision", "fp32,int4")
    assert_user_error(result, "unknown precision 'int4'; choose from fp32, int8-dynamic, int8-static, fp16")
    result = gan("export", trained_run, "--out", out, "--precision", "fp16", "--max-fcd-increase", "-1")
    assert_user_error(result, "--max-fcd-increase must be a finite percentage >= 0, got -1.0")
    assert not out.exists()


def test_a_variant_that_cannot_be_built_is_skipped_with_its_reason(tmp_path):
    conv = tmp_path / "conv.onnx"
    torch.onnx.export(
        torch.nn.Conv2d(1, 2, 3).eval(), (torch.randn(1, 1, 8, 8),), str(conv), dynamo=False, opset_version=17
    )
    with pytest.raises(VariantSkipped, match="has none"):
        build_variant("int8-dynamic", conv, tmp_path / "conv.int8-dynamic.onnx")
    assert not (tmp_path / "conv.int8-dynamic.onnx").exists()


@pytest.mark.slow  # a second export of the user's DCGAN
def test_a_skipped_variant_is_recorded_and_the_rest_export(user_dcgan_run, tmp_path):
    """The user's all-convolution DCGAN has no MatMul for int8-dynamic: skipped with why, and
    fp16 still built and checked."""
    run = tmp_path / "run"
    shutil.copytree(user_dcgan_run / "run", run, ignore=shutil.ignore_patterns("export"))
    result = gan("export", run, "--precision", "int8-dynamic,fp16")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(run / "export")
    generator = manifest["models"]["generator"]["variants"]
    assert "has none" in generator["int8-dynamic"]["skipped"] and "file" in generator["fp16"]
    assert "int8-dynamic generator: skipped" in " ".join(result.output.split())
    assert {c["precision"] for c in manifest["parity"]} == {"fp32", "fp16"}


def test_without_a_dataset_d_calibrates_on_g_and_says_so():
    architecture, generator, discriminator = fresh_models("mlp")
    models = {"generator": generator.eval(), "discriminator": discriminator.eval()}
    found = calibrations(architecture.signature, models, None, None, batches=2, batch=4)
    assert found["discriminator"].record["inputs"].startswith("G's outputs only")
    assert len(found["generator"].feeds) == 2 and found["generator"].feeds[0]["z"].shape == (4, 100)
    real = torch.rand(10, 1, 28, 28) * 2 - 1
    mixed = calibrations(architecture.signature, models, real, "fashion-mnist", batches=2, batch=4)
    assert mixed["discriminator"].record["inputs"] == "real fashion-mnist images and G's outputs, half each"


def test_eval_measures_the_quality_cost_and_gates_on_it(variant_run, tmp_path, data_dir, classifier):
    run = tmp_path / "run"
    shutil.copytree(variant_run, run)
    # A "variant" that is the fp32 file itself costs nothing: same FCD, no flips, identical images.
    for model in ("generator", "discriminator"):
        shutil.copy(run / "export" / f"{model}.onnx", run / "export" / f"{model}.fp16.onnx")
        relist(run / "export", f"{model}.fp16.onnx")
    result = gan(
        "eval", run, "--precision", "fp16", "-n", "200", "--max-fcd-increase", "0", data_dir=data_dir
    )
    assert result.exit_code == 0, result.output
    cost = json.loads((run / "eval-fp16.json").read_text())["cost"]
    assert cost["fcd_increase"] == pytest.approx(0, abs=1e-6) and cost["mean_psnr_db_vs_fp32"] == 100
    assert cost["discriminator_flips"] == {"real": 0.0, "generated": 0.0}
    # A G that draws only grey fails the gate, naming its increase. (Larger weights are no such
    # test: a trained MLP G scaled 3x draws crisper images, and its FCD falls.)
    _scale_all_weights(run / "export" / "generator.fp16.onnx", 0.0)
    relist(run / "export", "generator.fp16.onnx")
    result = gan("eval", run, "--precision", "fp16", "-n", "200", data_dir=data_dir)
    assert result.exit_code == 1 and "more than --max-fcd-increase 1%" in " ".join(result.output.split())
    # The report puts each measured cost in one trade-off table.
    assert gan("report", run).exit_code == 0
    report = (run / "report.md").read_text()
    assert "## Precision trade-off" in report
    assert "| int8-dynamic |" in report and "| fp16 |" in report and "| FAIL (≤ 1%) |" in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-fcd-increase", "-1"], "--max-fcd-increase must be a finite percentage >= 0, got -1.0"),
        (["--max-fcd-increase", "nan"], "--max-fcd-increase must be a finite percentage >= 0, got nan"),
        (["--precision", "int3"], "--precision must name a reduced precision"),
    ],
)
def test_eval_precision_bad_input(variant_run, args, message):
    assert_user_error(gan("eval", variant_run, "--precision", "int8-static", *args), message)


def test_eval_needs_the_variant_in_the_export(exported_run):
    result = gan("eval", exported_run, "--precision", "int8-static")
    assert_user_error(result, "this export has no int8-static variant of its generator")


def test_bench_runs_every_variant_as_its_own_row(variant_run, tmp_path):
    out = tmp_path / "bench.json"
    args = ["--quick", "--workloads", "forward", "--backends", "onnxruntime", "--json", out]
    result = gan("bench", variant_run / "export", *args)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    g_rows = {r["backend"]: r for r in rows if r["workload"] == "forward G"}
    assert set(g_rows) == {"onnxruntime", *(f"onnxruntime-{p}" for p in VARIANTS)}
    assert all(g_rows[f"onnxruntime-{p}"]["precision"] == p for p in VARIANTS)
    assert g_rows["onnxruntime"]["pct_of_peak"] is not None
    assert all(g_rows[f"onnxruntime-{p}"]["pct_of_peak"] is None for p in VARIANTS)  # no int8 peak
    assert_user_error(gan("bench", variant_run / "export", "--precision", "int2"), "unknown precision 'int2'")


def test_openvino_runs_fp32_pinned_and_its_bf16_only_where_native(variant_run):
    export = variant_run / "export"
    source = ModelSource(export, read_manifest(export))
    built = build_backends(OPENVINO, source, CPU)
    z = torch.randn(4, 100)
    eager = build_backends(OPENVINO, source, CPU, "int8-static")["generator"](z)
    assert built["generator"](z).shape == eager.shape == (4, 1, 28, 28)
    if bf16_problem(CPU) is None:
        assert build_backends(OPENVINO, source, CPU, "bf16")["generator"].precision == "bf16"
    else:
        with pytest.raises(Unavailable, match="no native bf16"):
            build_backends(OPENVINO, source, CPU, "bf16")


def test_openvino_missing_is_unavailable_with_the_install_line(monkeypatch, exported_run, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    assert "pip install 'gan-toolkit[openvino]'" in openvino_problem(CPU)
    assert "openvino" not in [s.name for s in parity_backends(CPU)]  # verify leaves it out
    # Asked for by name, it is a machine without what was asked for: exit 3, nothing written.
    out = tmp_path / "never.png"
    result = gan("sample", exported_run, "--backend", "openvino", "--out", out)
    assert_user_error(result, "OpenVINO is not installed: pip install 'gan-toolkit[openvino]'", exit_code=3)
    assert not out.exists()


def _scale_all_weights(path: Path, factor: float) -> None:
    """Every float initializer of an ONNX file, scaled: a variant gone wrong."""
    model = onnx.load(str(path))
    for initializer in model.graph.initializer:
        if initializer.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
            array = numpy_helper.to_array(initializer)
            initializer.CopyFrom(
                numpy_helper.from_array((array * factor).astype(array.dtype), initializer.name)
            )
    onnx.save(model, str(path))


def test_the_speed_quality_front_keeps_what_nothing_beats():
    points = [("onnxruntime", 0.0, 100.0), ("a-int8", 0.5, 250.0), ("b-int8", 0.5, 200.0), ("c", 3.0, 240.0)]
    assert pareto_front(points) == [("onnxruntime", 0.0, 100.0), ("a-int8", 0.5, 250.0)]


def test_the_bench_chart_adds_the_trade_off_panel(tmp_path):
    rows = [
        BenchRow("forward G", "onnxruntime", "cpu", 64, median_ms=1.0, throughput_per_s=64e3),
        BenchRow("forward G", "onnxruntime-int8-static", "cpu", 64, median_ms=0.5, throughput_per_s=128e3),
    ]
    rows[1].precision = "int8-static"
    results = BenchResults(
        environment={"device_name": "test CPU"},
        config={"arch": {"name": "mlp"}, "device": "cpu", "quality_cost": {"int8-static": 2.5}},
        rows=rows,
    )
    assert speed_quality_points(results) == [
        ("onnxruntime", 0.0, 64e3),
        ("onnxruntime-int8-static", 2.5, 128e3),
    ]
    save_chart(results, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


def test_bf16_training_steps_run_only_where_the_cpu_has_bf16():
    architecture, generator, discriminator = fresh_models("mlp")
    setup = TrainSetup(generator, discriminator, GanLoss(), architecture.signature, 8, CPU)
    if bf16_problem(CPU) is None:
        variant = make_train_variant("eager", setup, precision="bf16")
        assert all(torch.isfinite(torch.as_tensor(variant.runs["iteration"]())).all() for _ in range(2))
    else:
        with pytest.raises(Unavailable, match="no native bf16"):
            make_train_variant("eager", setup, precision="bf16")
    with pytest.raises(NotApplicable, match="torchscript trains in fp32, not bf16"):
        make_train_variant("torchscript", setup, precision="bf16")


def test_sample_draws_from_a_variant(variant_run, tmp_path):
    out = tmp_path / "int8.png"
    result = gan("sample", variant_run, "--precision", "int8-static", "-n", "4", "--out", out)
    assert result.exit_code == 0 and "onnxruntime (int8-static)" in result.output, result.output
    assert out.stat().st_size > 0
    result = gan("sample", variant_run, "--backend", "torchscript", "--precision", "int8-static")
    assert_user_error(result, "torchscript runs fp32, not int8-static")
