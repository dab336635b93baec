"""`gan report`: one self-contained page from what the other commands wrote, and one line when
one of those files is malformed."""

from __future__ import annotations

import shutil

from helpers import assert_user_error, gan

from gan.quality.evaluation import evaluate_run
from gan.report.page import write_report


def test_report_is_one_self_contained_page(exported_run, tmp_path, data_dir, classifier):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    evaluate_run(run, n=500, data_dir=data_dir)
    bench = ["--quick", "--workloads", "forward", "--backends", "eager,onnxruntime"]
    outputs = ["--json", run / "bench.json", "--plot", run / "bench.png"]
    assert gan("bench", run / "export", *bench, *outputs).exit_code == 0
    html_path, markdown_path = write_report(run)
    page, markdown = html_path.read_text(), markdown_path.read_text()
    for section in (
        "Configuration",
        "Samples",
        "Losses",
        "Quality",
        "Export parity",
        "Benchmark",
        "Environment",
    ):
        assert f"<h2>{section}</h2>" in page and f"## {section}" in markdown
    assert page.count("data:image/png;base64,") >= 5 and "data:image/gif;base64," in page
    assert "not comparable to" in page and "<td>onnxruntime</td>" in page
    assert "](export/parity_grid.png)" in markdown  # the twin links the same pictures


def test_report_of_a_bare_run_says_what_to_run_next(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    _, markdown_path = write_report(run)
    markdown = markdown_path.read_text()
    assert f"not measured yet: `gan eval {run}`" in markdown
    assert f"not exported yet: `gan export {run}`" in markdown and "## Benchmark" not in markdown


def test_report_on_malformed_inputs_is_one_line(exported_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    (run / "eval.json").write_text('{"generated": 1}')
    assert_user_error(gan("report", run), "is malformed")
    (run / "eval.json").unlink()
    onnx_file = run / "export" / "generator.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    assert_user_error(gan("report", run), "generator.onnx changed since export")
    (run / "config.json").write_text("[")
    assert_user_error(gan("report", run), "config.json is unreadable")
    assert_user_error(gan("report", tmp_path), "has no checkpoint")
