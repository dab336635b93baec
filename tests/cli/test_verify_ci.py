"""`gan verify` in CI: JUnit XML and a versioned JSON report, exit codes 0/1/2/3, Polygraphy's
error statistics and per-output tolerances, image gates (PSNR, SSIM) with heatmaps, bad input
refused before any work, and the pytest plugin (`pytest --gan-verify`, the `gan_verify` fixture)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from helpers import (
    assert_user_error,
    checked_backends,
    copy_export,
    gan,
    plant_golden,
    scale_onnx_initializer,
)

from gan.export.parity import PARITY_BATCHES, Tolerance, compare
from gan.export.verify_report import REPORT_VERSION

MODELS = ("generator", "discriminator", "chain")


def expected_testcases() -> int:
    """Every model x backend x batch the export dir alone can check on the CPU, plus one image
    check per generator backend."""
    backends = [s.name for s in checked_backends() if s.name != "eager"]
    return len(MODELS) * len(backends) * len(PARITY_BATCHES) + len(backends)


def offset_generator(export: Path, offset: float) -> None:
    """Every value of G's golden output moved by `offset`: each backend now misses by about it."""
    plant_golden(export, lambda g: g.__setitem__("generator.output", g["generator.output"] + offset))


def test_junit_and_json_reports(exported_run, tmp_path):
    junit, report = tmp_path / "parity.xml", tmp_path / "parity.json"
    result = gan("verify", exported_run / "export", "--junit-xml", junit, "--json", report)
    assert result.exit_code == 0, result.output
    root = ET.parse(junit).getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == expected_testcases() == int(root.get("tests"))
    assert root.get("failures") == "0" and not root.findall(".//failure")
    properties = {p.get("name") for p in cases[0].findall("./properties/property")}
    assert {"max_abs", "median_abs", "max_rel", "min_passing_atol"} <= properties
    data = json.loads(report.read_text())
    assert data["format"] == "gan-verify-report" and data["version"] == REPORT_VERSION
    assert data["passed"] is True and len(data["comparisons"]) + len(data["image_checks"]) == len(cases)
    environment = data["environment"]
    assert environment["torch"] == torch.__version__ and environment["exporter"] == "dynamo"
    assert environment["cpu"] and environment["opset"] == 18 and "tf32_matmul" in environment


def test_a_failure_names_its_layer_in_junit_and_exits_1(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    scale_onnx_initializer(export, "generator", "net.2.weight")
    junit = tmp_path / "parity.xml"
    result = gan("verify", export, "--junit-xml", junit)
    assert result.exit_code == 1, result.output
    failures = ET.parse(junit).getroot().findall(".//testcase/failure")
    assert failures and all(
        "first diverging layer generator.net.2 (Linear)" in f.get("message") for f in failures
    )


def test_error_statistics_and_tolerances_per_output(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    offset_generator(export, 3e-4)
    assert gan("verify", export).exit_code == 1
    # Looser for the image only: G passes, and D keeps the manifest's tolerances.
    assert gan("verify", export, "--atol", "image:1e-3").exit_code == 0
    assert gan("verify", export, "--atol", "probability:1e-3").exit_code == 1
    # Held to its median instead of every element: each misses by 3e-4.
    assert gan("verify", export, "--check-error-stat", "median", "--atol", "2e-4").exit_code == 1
    assert gan("verify", export, "--check-error-stat", "median", "--atol", "4e-4").exit_code == 0
    assert (
        gan(
            "verify", export, "--check-error-stat", "quantile", "--error-quantile", "1", "--atol", "4e-4"
        ).exit_code
        == 0
    )


def test_every_statistic_keeps_nan_a_mismatch():
    labels = dict(model="generator", backend="test", device="cpu", batch=2)
    expected = torch.tensor([1.0, 2.0, 3.0, 4.0])
    one_outlier = torch.tensor([1.0, 2.0, 3.0, 4.5])
    for stat in ("elemwise", "max", "mean", "median", "quantile"):
        nan = compare(
            torch.tensor([1.0, 2.0, 3.0, float("nan")]), expected, Tolerance(1.0, 1.0), stat, 0.5, **labels
        )
        assert not nan.passed, stat
    passes = {
        stat: compare(one_outlier, expected, Tolerance(0.2, 1e-6), stat, 0.5, **labels).passed
        for stat in ("elemwise", "max", "mean", "median", "quantile")
    }
    assert passes == {"elemwise": False, "max": False, "mean": True, "median": True, "quantile": True}
    result = compare(one_outlier, expected, Tolerance(0.1, 1e-6), "mean", **labels)
    assert not result.passed and result.min_passing_atol == pytest.approx(0.125)


def test_image_gates_and_heatmaps(exported_run, tmp_path):
    heatmaps = tmp_path / "heatmaps"
    result = gan(
        "verify",
        exported_run / "export",
        "--min-psnr",
        "60",
        "--min-ssim",
        "0.999",
        "--save-heatmaps",
        heatmaps,
    )
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.output and "SSIM" in result.output
    backends = [s.name for s in checked_backends() if s.name != "eager"]
    assert sorted(p.name for p in heatmaps.iterdir()) == sorted(f"heatmap-{b}-cpu.png" for b in backends)
    export = copy_export(exported_run, tmp_path)
    plant_golden(export, lambda g: g.__setitem__("fixed_images", g["fixed_images"] + 3e-3))
    result = gan("verify", export, "--min-psnr", "60")  # 3e-3 off everywhere: 56.5 dB
    assert result.exit_code == 1
    assert "PSNR" in result.output and "FAIL" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--atol", "logits:1e-3"],
            "--atol logits:...: this export has no output 'logits' (its outputs: image, probability)",
        ),
        (["--atol", "image:x"], "--atol takes VALUE or OUTPUT:VALUE"),
        (["--rtol", "-1"], "--rtol must be a finite number >= 0, got -1.0"),
        (["--error-quantile", "0"], "--error-quantile must be in (0, 1], got 0.0"),
        (["--error-quantile", "1.5"], "--error-quantile must be in (0, 1], got 1.5"),
        (["--check-error-stat", "p99"], "unknown error statistic 'p99'; choose one of elemwise, max, mean"),
        (["--junit-xml", "{tmp}/missing/parity.xml"], "missing does not exist"),
        (["--json", "{tmp}/file.txt/parity.json"], "file.txt does not exist"),
        (["--save-heatmaps", "{tmp}/file.txt"], "it is not a directory"),
    ],
)
def test_bad_input_is_one_line_before_any_work(exported_run, tmp_path, args, message):
    (tmp_path / "file.txt").write_text("not a directory")
    export = copy_export(exported_run, tmp_path)
    before = {p.name: p.read_bytes() for p in export.iterdir()}
    args = [a.format(tmp=tmp_path) for a in args]
    assert_user_error(gan("verify", export, *args), message)
    assert {p.name: p.read_bytes() for p in export.iterdir()} == before
    assert "parity:" not in gan("verify", export, *args).output  # refused before any comparison


def test_not_an_export_dir_and_a_manifest_without_its_models(exported_run, tmp_path):
    assert_user_error(gan("verify", tmp_path), "has no manifest.json")
    export = copy_export(exported_run, tmp_path)
    manifest = json.loads((export / "manifest.json").read_text())
    del manifest["models"]["generator"]
    (export / "manifest.json").write_text(json.dumps(manifest))
    assert_user_error(gan("verify", export), "'models' must hold 'generator'")


def test_the_pytest_plugin_runs_parity_as_tests(exported_run, tmp_path, pytester):
    """A user's CI: `pip install` of the toolkit registers the plugin (its pytest11 entry point,
    which the inner run loads as a user's would); one test per comparison."""
    good, broken = tmp_path / "good", tmp_path / "broken"
    shutil.copytree(exported_run / "export", good)
    shutil.copytree(exported_run / "export", broken)
    scale_onnx_initializer(broken, "discriminator", "net.3.weight")
    pytester.makepyfile(
        test_users_own="def test_their_assertion(gan_verify):\n"
        f"    report = gan_verify({str(good)!r}, atol={{'image': 1e-4}})\n"
        "    assert report.passed and max(c.max_abs for c in report.comparisons) < 1e-4\n"
    )
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest_inprocess(
        *["-p", "no:cacheprovider", "-o", "addopts=", "--junitxml", str(junit)],
        *["--gan-verify", str(good), "--gan-verify", str(broken)],
        *["-k", "onnxruntime or their_assertion"],
    )
    output = result.stdout.str()
    assert result.ret == 1, output
    per_dir = len(MODELS) * len(PARITY_BATCHES) + 1  # ONNX Runtime's comparisons and image check
    failed = len(PARITY_BATCHES) * 2  # D and D(G(z)) on ONNX Runtime, at every batch
    passed = 2 * per_dir + 1 - failed  # both dirs, and the user's own test
    deselected = 2 * (expected_testcases() - per_dir)  # -k left TorchScript's out
    result.assert_outcomes(failed=failed, passed=passed, deselected=deselected)
    assert "broken::discriminator[onnxruntime-cpu-batch64]" in output
    assert "first diverging layer discriminator.net.3 (Linear)" in output
    assert int(ET.parse(junit).getroot().find("testsuite").get("tests")) == failed + passed
