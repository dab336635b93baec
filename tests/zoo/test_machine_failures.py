"""What breaks outside the model: a disk that fills up during an export, and an ONNX file from a
stranger that breaks ONNX Runtime when it runs. Each is one line and an exit code, and nothing
already on disk is lost."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, gan, relist, save_weights

SPEC = f"{REPO}/tests/zoo/user_models.py:INIT_ARGS"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("small")
    g_path, d_path = save_weights(SPEC, tmp)
    result = gan("import", tmp / "run", "--arch", SPEC, "--generator", g_path, "--discriminator", d_path)
    assert result.exit_code == 0, result.output
    return tmp / "run"


@contextlib.contextmanager
def tiny_disk(path: Path, size: str):
    """A tmpfs of `size` at `path` (root only, as CI and the sessions run); skipped elsewhere."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_full_disk_during_export_is_one_line_and_the_old_export_stays(small_run, tmp_path):
    with tiny_disk(tmp_path / "disk", "8m") as disk:
        out = disk / "export"
        first = gan("export", small_run, "--out", out)
        assert first.exit_code == 0, first.output
        before = snapshot(out)
        # Leave less room than one TorchScript file of the model needs.
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - 40_000))
        again = gan("export", small_run, "--out", out, "--force")
        assert again.exit_code == 3, again.output
        assert "Traceback" not in again.output and "terminate called" not in again.output
        assert "no space left on the device writing" in " ".join(again.output.split())
        assert snapshot(out) == before  # the earlier export, byte for byte
        assert sorted(p.name for p in disk.iterdir()) == ["export", "filler"]  # no partial dir left
        (disk / "filler").unlink()
        assert gan("verify", out).exit_code == 0


def test_an_onnx_file_that_breaks_the_runtime_is_a_failed_row_under_untrusted(small_run, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    export = tmp_path / "export"
    assert gan("export", small_run, "--out", export).exit_code == 0
    # G's file replaced by a graph that asks ONNX Runtime for 4 TiB at run time, as a stranger's could.
    huge = helper.make_tensor("huge", TensorProto.INT64, [1], [1 << 40])
    reps = helper.make_tensor("reps", TensorProto.INT64, [2], [1, 49])
    dims = helper.make_tensor("dims", TensorProto.INT64, [4], [-1, 1, 28, 28])
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=huge),
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
        helper.make_node("Constant", [], ["reps"], value=reps),
        helper.make_node("Tile", ["z", "reps"], ["tiled"]),
        helper.make_node("Add", ["tiled", "total"], ["sum"]),
        helper.make_node("Constant", [], ["dims"], value=dims),
        helper.make_node("Reshape", ["sum", "dims"], ["image"]),
    ]
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, export / "generator.onnx")
    relist(export, "generator.onnx")
    before = snapshot(export)
    result = gan("verify", export, "--untrusted", "--json", tmp_path / "parity.json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert (
        "generator on onnxruntime (cpu), batch 1, 64, 257: ONNX Runtime failed in a ConstantOfShape node"
        in text
    )
    assert "fixed-noise grid, onnxruntime (cpu): ONNX Runtime failed" in text
    assert snapshot(export) == before
    import json

    rows = json.loads((tmp_path / "parity.json").read_text())["comparisons"]
    # D's own rows still ran, and passed.
    d_rows = [r for r in rows if r["model"] == "discriminator" and r["backend"] == "onnxruntime"]
    assert d_rows and all(r["passed"] for r in d_rows)
    g_rows = [r for r in rows if r["model"] == "generator" and r["backend"] == "onnxruntime"]
    assert g_rows and all(r["status"] == "error" for r in g_rows)
