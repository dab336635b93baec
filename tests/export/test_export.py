"""`gan export` for both built-ins and both exporters: every backend matches eager at every batch,
the manifest is the contract, the ONNX files keep a free batch axis, and the swap loses nothing."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
import torch
from helpers import QUIET, assert_user_error, checked_backends, gan, requires_cuda

from gan.errors import GanError
from gan.export.backends import ModelSource, backend_spec, build_backends
from gan.export.exporter import _swap_in, export_run
from gan.export.golden import golden_inputs, load_golden
from gan.export.manifest import read_manifest
from gan.export.parity import DEFAULT_TOLERANCES, PARITY_BATCHES, Rule, check_backends
from gan.runs.trained import load_trained_run

# The legacy exporter on the DCGAN is the slowest export of the four; the slow tier runs it.
CASES = [
    ("mlp", "dynamo"),
    ("mlp", "torchscript"),
    ("dcgan", "dynamo"),
    pytest.param(("dcgan", "torchscript"), marks=pytest.mark.slow),
]


@pytest.fixture(
    scope="module", params=CASES, ids=["mlp-dynamo", "mlp-torchscript", "dcgan-dynamo", "dcgan-torchscript"]
)
def export(request, exported_run, dcgan_run, tmp_path_factory):
    """(run dir, export dir, exporter): the session's MLP export, or a fresh one into a temp dir."""
    arch, exporter = request.param
    if request.param == ("mlp", "dynamo"):
        return exported_run, exported_run / "export", exporter
    run = exported_run if arch == "mlp" else dcgan_run
    out = tmp_path_factory.mktemp(f"{arch}-{exporter}") / "export"
    assert export_run(run, out, exporter=exporter, console=QUIET).passed
    return run, out, exporter


def test_every_backend_matches_eager_at_every_batch(export):
    _, export_dir, _ = export
    manifest = read_manifest(export_dir)
    results = manifest["parity"]
    assert results and all(c["passed"] for c in results), [c for c in results if not c["passed"]]
    seen = {(c["model"], c["backend"], c["batch"]) for c in results}
    backends = [spec.name for spec in checked_backends()]
    expected = {
        (m, b, n) for m in ("generator", "discriminator", "chain") for b in backends for n in PARITY_BATCHES
    }
    assert seen == expected
    assert all(c["max_abs"] <= 1e-4 for c in results)
    assert all(r["max_pixel_diff"] <= 1 for r in manifest["image_parity"])
    assert (export_dir / "parity_grid.png").stat().st_size > 0


def test_manifest_is_the_contract(export):
    run_dir, export_dir, exporter = export
    manifest = read_manifest(export_dir)
    assert manifest["arch"]["spec"] == json.loads((run_dir / "config.json").read_text())["arch"]
    assert manifest["z_shape"] == [100] and manifest["image_shape"] == [1, 28, 28]
    assert manifest["signature"]["generator_inputs"] == [{"kind": "noise", "name": "z", "shape": [100]}]
    assert manifest["signature"]["discriminator_inputs"] == ["image"]
    assert manifest["discriminator_output"] == "probability"
    assert manifest["opset"] == 18 and manifest["exporter"] == exporter
    assert set(manifest["files"]) == {
        "generator.pt",
        "generator.onnx",
        "generator.ep.pt2",
        "discriminator.pt",
        "discriminator.onnx",
        "discriminator.ep.pt2",
        "golden.npz",
    }
    assert all(len(sha) == 64 for sha in manifest["files"].values())
    g, d = manifest["models"]["generator"], manifest["models"]["discriminator"]
    assert g["inputs"] == [{"name": "z", "shape": ["batch", 100], "dtype": "float32"}]
    assert g["outputs"] == [{"name": "image", "shape": ["batch", 1, 28, 28], "dtype": "float32"}]
    assert d["inputs"][0]["name"] == "image" and d["outputs"][0]["name"] == "probability"
    assert d["outputs"][0]["shape"] == ["batch", 1]
    assert set(manifest["versions"]) >= {"torch", "onnx", "onnxruntime"}
    assert manifest["tolerances"]["cpu"] == {"atol": 1e-5, "rtol": 1e-4}
    assert manifest["source"]["checkpoint_sha256"] == load_trained_run(run_dir).checkpoint.tensor_sha256


def test_onnx_files_have_named_io_and_a_free_batch_axis(export):
    _, export_dir, _ = export
    for name, (input_name, output_name) in {
        "generator": ("z", "image"),
        "discriminator": ("image", "probability"),
    }.items():
        model = onnx.load(export_dir / f"{name}.onnx")
        assert [i.name for i in model.graph.input] == [input_name]
        assert [o.name for o in model.graph.output] == [output_name]
        batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch_dim.dim_param and not batch_dim.dim_value, "batch axis frozen in the ONNX input"


@pytest.mark.parametrize(("exporter", "opset"), [("dynamo", "5"), ("dynamo", "99"), ("torchscript", "-1")])
def test_opsets_the_exporter_cannot_write_are_refused(trained_run, exporter, opset):
    assert_user_error(
        gan("export", trained_run, "--exporter", exporter, "--opset", opset), "cannot be written by"
    )


def test_swap_keeps_a_complete_export_and_cleans_dead_leftovers(exported_run, tmp_path):
    out = tmp_path / "export"
    staging = tmp_path / ".export.partial-1"
    shutil.copytree(exported_run / "export", out)
    shutil.copytree(exported_run / "export", staging)
    (staging / "marker").write_text("new")
    _swap_in(staging, out)
    assert (out / "marker").exists() and not staging.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # the old one went last
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    dead = run / ".export.partial-999999"
    dead.mkdir()
    assert gan("export", run, "--force", "--exporter", "torchscript").exit_code == 0
    assert not dead.exists()


def test_cuda_provider_failure_names_package_and_library(exported_run):
    from gan.export.backends.onnxruntime import OnnxRuntimeBackend

    if torch.cuda.is_available():
        pytest.skip("CUDA is present; the failure path cannot be provoked")
    with pytest.raises(GanError, match=r"onnxruntime(-gpu)?.*(missing lib\S+\.so|install onnxruntime-gpu)"):
        OnnxRuntimeBackend(exported_run / "export" / "generator.onnx", torch.device("cuda"))


@pytest.mark.cuda
@requires_cuda
def test_cuda_parity(trained_run, tmp_path):
    from gan.export.backends.onnxruntime import cuda_provider_problem

    cuda = torch.device("cuda")
    if cuda_provider_problem() is None:
        result = export_run(trained_run, tmp_path / "export-cuda", device=cuda, console=QUIET)
        comparisons = result.comparisons
        assert {"onnxruntime-iobinding", "onnxruntime-numpy"} <= {c.backend for c in comparisons}
    else:
        # Plain onnxruntime: export --device cuda must refuse clearly, and the torch backends on
        # the GPU must still match.
        with pytest.raises(GanError, match="install onnxruntime-gpu"):
            export_run(trained_run, tmp_path / "export-cuda", device=cuda, console=QUIET)
        result = export_run(trained_run, tmp_path / "export-cpu", console=QUIET)
        run = load_trained_run(trained_run)
        golden = load_golden(result.export_dir / "golden.npz", run.architecture.signature)
        eager = {"generator": run.generator, "discriminator": run.discriminator}
        source = ModelSource(result.export_dir, result.manifest, eager)
        backends = [
            (model, backend)
            for name in ("eager", "torchscript")
            for model, backend in build_backends(backend_spec(name), source, cuda).items()
        ]
        inputs = {
            m: golden_inputs(golden, run.architecture.signature, m)
            for m in ("generator", "discriminator", "chain")
        }
        expected = {m: golden[f"{m}.output"] for m in inputs}
        comparisons = check_backends(backends, inputs, expected, Rule(DEFAULT_TOLERANCES))
    cuda_rows = [c for c in comparisons if c.device.startswith("cuda")]
    assert {c.backend for c in cuda_rows} >= {"eager", "torchscript"}
    assert {c.batch for c in cuda_rows} == set(PARITY_BATCHES)
    assert all(c.passed for c in comparisons), [c for c in comparisons if not c.passed]
