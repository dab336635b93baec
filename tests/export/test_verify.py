"""`gan verify` from the export dir alone: it passes on a good export, exits 1 on a mismatch
(values, NaN, another shape), and with --untrusted never loads TorchScript."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from helpers import assert_user_error, checked_backends, copy_export, gan, plant_golden, rewrite_manifest

from gan.export.exporter import ExportRequest, export_models
from gan.export.formats import CODE_FORMATS
from gan.export.parity import PARITY_BATCHES
from gan.export.verify import verify_export
from gan.models.architecture import Architecture
from gan.models.calls import UserModelError
from gan.report.page import write_report
from gan.report.tables import model_label

MODELS = ("generator", "discriminator", "chain")


def comparisons(with_eager: bool, trusted: bool = True) -> int:
    """How many comparisons parity makes on the CPU: every model x backend x batch."""
    specs = [s for s in checked_backends() if (with_eager or s.name != "eager")]
    backends = [s.name for s in specs if trusted or s.reads not in CODE_FORMATS]
    return len(MODELS) * len(backends) * len(PARITY_BATCHES)


def test_export_and_verify_report_every_comparison(exported_run, tmp_path):
    n = comparisons(with_eager=False)
    result = gan("verify", exported_run / "export", "--grid", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert f"{n}/{n} comparisons within tolerance; all match" in result.output
    assert (tmp_path / "grid.png").stat().st_size > 0
    manifest_rows = comparisons(with_eager=True)
    result = gan("export", exported_run, "--out", tmp_path / "again", "--exporter", "torchscript")
    assert f"{manifest_rows}/{manifest_rows} comparisons within tolerance" in result.output
    assert result.output.count("TorchScript (torch.jit.trace/save) as deprecated") == 1


def test_verify_from_export_dir_alone_writes_nothing(exported_run, tmp_path):
    moved = copy_export(exported_run, tmp_path)
    before = {p.name: p.read_bytes() for p in moved.iterdir()}
    report = verify_export(moved)
    results, images = report.comparisons, report.image_checks
    assert len(results) == comparisons(with_eager=False) and all(c.passed for c in results)
    assert {c.backend for c in results} == {s.name for s in checked_backends() if s.name != "eager"}
    assert all(r["passed"] for r in images)
    assert {p.name: p.read_bytes() for p in moved.iterdir()} == before


def test_verify_exits_1_on_mismatch(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    plant_golden(export, lambda g: g.__setitem__("generator.output", g["generator.output"] + 1e-3))
    result = gan("verify", export)
    assert result.exit_code == 1, result.output
    assert "mismatch: generator on torchscript (cpu), batch 1" in result.output
    assert "comparisons FAILED" in result.output


def test_nan_golden_outputs_are_a_mismatch(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    plant_golden(
        export, lambda g: g.__setitem__("generator.output", np.full_like(g["generator.output"], np.nan))
    )
    result = gan("verify", export)
    assert result.exit_code == 1 and "comparisons FAILED" in result.output


def test_an_output_of_another_shape_is_a_mismatch_exit_1(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    plant_golden(export, lambda g: g.__setitem__("generator.output", g["generator.output"][:, :, :14, :]))
    result = gan("verify", export)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "output shape" in " ".join(result.output.split())


def test_untrusted_never_loads_torchscript(exported_run, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.jit.load was called")

    monkeypatch.setattr(torch.jit, "load", refuse)
    result = gan("verify", exported_run / "export", "--untrusted")
    assert result.exit_code == 0, result.output
    n = comparisons(with_eager=False, trusted=False)
    assert f"{n}/{n} comparisons" in result.output
    assert "torchscript" not in result.output and "onnxruntime" in result.output


def test_an_export_that_failed_parity_is_named_by_whatever_uses_it(exported_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    rewrite_manifest(run / "export", lambda m: m["parity"][4].__setitem__("passed", False))
    failed = json.loads((run / "export" / "manifest.json").read_text())["parity"][4]
    where = f"{failed['backend']} ({failed['device']}) at batch {failed['batch']}"
    named = f"({model_label(failed['model'])} on {where})"
    for command in (
        ["sample", run, "--backend", "onnxruntime", "--out", tmp_path / "s.png"],
        ["bench", run / "export", "--quick", "--workloads", "forward", "--backends", "onnxruntime"],
    ):
        result = gan(*command)
        assert result.exit_code == 0, result.output
        assert "this export failed parity when it was made" in result.output and named in " ".join(
            result.output.split()
        )
        assert_user_error(gan(*command, "--strict"), "--strict refuses it")
    page = write_report(run)[0].read_text()
    assert "<span class='fail'>FAIL</span>" in page


def test_a_users_module_that_raises_is_named_through_the_python_api(tmp_path):
    class Broken(torch.nn.Module):
        def forward(self, z):
            raise ValueError("channels must be even")

    architecture = Architecture("broken", Broken, None, z_shape=(4,), image_shape=(1, 2, 2))
    with pytest.raises(
        UserModelError,
        # The user's file and line where it was raised, then the message.
        match=r"'broken': its generator raised ValueError on z \(\d+, 4\) "
        r"\(at test_verify.py:\d+ in forward\): channels must be even",
    ):
        export_models(ExportRequest(architecture, Broken(), None, tmp_path / "export"))
    assert not (tmp_path / "export").exists()
