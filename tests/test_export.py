"""Export and numerical parity for every registered architecture, through every available backend."""

import json
from pathlib import Path

import onnx
import pytest
import torch
from rich.console import Console
from torch import nn

from gan.architectures import load_architecture
from gan.checkpoint import load_trained_run
from gan.config import TrainConfig
from gan.errors import GanError
from gan.export.backends import OnnxRuntimeBackend, TorchBackend, cuda_provider_problem, torchscript_backend
from gan.export.exporter import export_run, verify_export
from gan.export.golden import load_golden
from gan.export.inputs import example_inputs
from gan.export.manifest import read_manifest
from gan.export.parity import DEFAULT_TOLERANCES, PARITY_BATCHES, Tolerance, check_backends, compare
from gan.export.registry import ModelSource, build_backends
from gan.export.to_onnx import export_onnx
from gan.export.torchscript import export_torchscript
from gan.models import BUILTIN_ARCHITECTURES
from gan.trainer import train
from tests.conftest import requires_cuda

QUIET = Console(quiet=True)


@pytest.fixture(scope="module", params=list(BUILTIN_ARCHITECTURES))
def run_dir(request, tmp_path_factory, data_dir) -> Path:
    """A real (short) training run per architecture: exported weights are trained, not initial."""
    path = tmp_path_factory.mktemp(request.param) / "run"
    config = TrainConfig(arch=request.param, epochs=1, limit=256, compile=False)
    train(config, path, torch.device("cpu"), data_dir=data_dir, console=QUIET)
    return path


@pytest.fixture(scope="module", params=["dynamo", "torchscript"])
def exported(request, run_dir):
    return export_run(
        run_dir, run_dir.parent / f"export-{request.param}", exporter=request.param, console=QUIET
    )


def test_every_backend_matches_eager_at_every_batch(exported):
    results = exported.comparisons
    assert exported.passed, [c for c in results if not c.passed]
    seen = {(c.model, c.backend, c.batch) for c in results}
    for model in ("generator", "discriminator", "chain"):
        for backend in ("eager", "torchscript", "onnxruntime"):
            for batch in PARITY_BATCHES:
                assert (model, backend, batch) in seen
    assert all(c.max_abs <= 1e-4 for c in results)
    assert all(r["max_pixel_diff"] <= 1 for r in exported.image_results)
    assert (exported.export_dir / "parity_grid.png").stat().st_size > 0


def test_manifest_is_the_contract(exported, run_dir):
    manifest = read_manifest(exported.export_dir)
    assert manifest["arch"]["spec"] == json.loads((run_dir / "config.json").read_text())["arch"]
    assert manifest["z_shape"] == [100] and manifest["image_shape"] == [1, 28, 28]
    assert manifest["discriminator_output"] == "probability"
    assert manifest["opset"] == 18 and manifest["exporter"] in ("dynamo", "torchscript")
    assert set(manifest["files"]) == {
        "generator.pt",
        "generator.onnx",
        "discriminator.pt",
        "discriminator.onnx",
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
    assert len(manifest["parity"]) == len(exported.comparisons)
    assert manifest["source"]["checkpoint_sha256"]


def test_onnx_files_have_named_io_and_a_free_batch_axis(exported):
    for name, (input_name, output_name) in {
        "generator": ("z", "image"),
        "discriminator": ("image", "probability"),
    }.items():
        model = onnx.load(exported.export_dir / f"{name}.onnx")
        assert [i.name for i in model.graph.input] == [input_name]
        assert [o.name for o in model.graph.output] == [output_name]
        batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch_dim.dim_param and not batch_dim.dim_value, "batch axis frozen in the ONNX input"


def test_verify_from_export_dir_alone(exported, tmp_path):
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for path in exported.export_dir.iterdir():
        (moved / path.name).write_bytes(path.read_bytes())
    comparisons, images = verify_export(moved, torch.device("cpu"), grid_path=tmp_path / "grid.png")
    assert comparisons and all(c.passed for c in comparisons)
    assert {c.backend for c in comparisons} == {"torchscript", "onnxruntime"}
    assert all(r["passed"] for r in images) and (tmp_path / "grid.png").stat().st_size > 0
    assert sorted(p.name for p in moved.iterdir()) == sorted(p.name for p in exported.export_dir.iterdir())


def test_tampered_artifact_is_named(exported, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in exported.export_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "discriminator.onnx").write_bytes((copy / "discriminator.onnx").read_bytes()[:-10])
    with pytest.raises(GanError, match=r"discriminator.onnx changed since export"):
        verify_export(copy, torch.device("cpu"))


def test_inputs_follow_the_declared_shapes_seeded_and_never_constant():
    a, b = (
        example_inputs((100, 1, 1), (3, 8, 8), 8, seed=5),
        example_inputs((100, 1, 1), (3, 8, 8), 8, seed=5),
    )
    assert a["generator"].shape == (8, 100, 1, 1) and a["discriminator"].shape == (8, 3, 8, 8)
    for name in a:
        assert torch.equal(a[name], b[name])
        assert a[name].std() > 0.1
    assert a["discriminator"].min() >= -1 and a["discriminator"].max() <= 1


class FrozenBatchGenerator(nn.Module):
    """The classic bug: batch taken from the traced shape becomes a constant in the graph."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, z):
        return self.generator(z).reshape(int(z.shape[0]), 1, 28, 28)


def _parity_of(module_backend, reference: nn.Module, model="generator"):
    inputs = example_inputs((100,), (1, 28, 28), max(PARITY_BATCHES), seed=7)
    with torch.no_grad():
        expected = {model: reference.eval()(inputs[model])}
    return check_backends([(model, module_backend)], inputs, expected, DEFAULT_TOLERANCES)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the bug being simulated
def test_parity_catches_a_frozen_batch_axis(tmp_path):
    generator, _ = load_architecture("mlp")[0].build(seed=0)
    export_torchscript(FrozenBatchGenerator(generator), torch.randn(3, 100), tmp_path / "g.pt")
    results = _parity_of(torchscript_backend(tmp_path / "g.pt", torch.device("cpu")), generator)
    assert [r.passed for r in results] == [False, False, False]
    assert all(r.error for r in results)
    export_onnx(
        FrozenBatchGenerator(generator),
        torch.randn(3, 100),
        tmp_path / "g.onnx",
        "z",
        "image",
        exporter="torchscript",
    )
    results = _parity_of(OnnxRuntimeBackend(tmp_path / "g.onnx", torch.device("cpu")), generator)
    assert not any(r.passed for r in results)


def test_parity_catches_a_model_exported_in_train_mode(tmp_path):
    generator, _ = load_architecture("mlp")[0].build(seed=0)
    with_dropout = nn.Sequential(generator, nn.Dropout(0.5))
    traced = torch.jit.trace(with_dropout.train(), torch.randn(3, 100), check_trace=False)
    results = _parity_of(TorchBackend("torchscript", traced, torch.device("cpu")), with_dropout)
    assert not any(r.passed for r in results)


def test_wrong_input_name_and_shape_are_clear(exported):
    backend = OnnxRuntimeBackend(exported.export_dir / "generator.onnx", torch.device("cpu"))
    with pytest.raises(GanError, match=r"generator.onnx has input\(s\) \['z'\], got \['noise'\]"):
        backend.bind_feed({"noise": torch.randn(2, 100)})
    with pytest.raises(
        GanError, match=r"input 'z' of generator.onnx expects shape \(batch, 100\), got \(2, 99\)"
    ):
        backend(torch.randn(2, 99))


def test_polygraphy_rule_needs_both_tolerances_exceeded():
    labels = dict(model="generator", backend="test", device="cpu", batch=2)
    expected = torch.tensor([1000.0, 1e-6])

    def check(actual, atol, rtol=1e-4):
        return compare(torch.tensor(actual), expected, Tolerance(atol, rtol), **labels)

    # 1e-3 off a large value: abs > atol but rel < rtol, so it passes.
    assert check([1000.001, 1e-6], atol=1e-5).passed
    # 1e-4 off a tiny value: abs > atol and rel > rtol, so it fails...
    result = check([1000.0, 1.01e-4], atol=1e-5)
    assert not result.passed
    # ...and says which atol would have passed.
    assert result.min_passing_atol == pytest.approx(1e-4, rel=1e-3)
    assert check([1000.0, 1.01e-4], atol=1.1e-4).passed
    assert not check([float("nan"), 1e-6], atol=1.0, rtol=1.0).passed


def test_export_refuses_existing_dir_without_force(exported, run_dir):
    with pytest.raises(GanError, match="already exists; pass --force"):
        export_run(run_dir, exported.export_dir, console=QUIET)


def test_cuda_provider_failure_names_package_and_library(exported):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present; the failure path cannot be provoked")
    with pytest.raises(GanError, match=r"onnxruntime(-gpu)?.*(missing lib\S+\.so|install onnxruntime-gpu)"):
        OnnxRuntimeBackend(exported.export_dir / "generator.onnx", torch.device("cuda"))


@pytest.mark.cuda
@requires_cuda()
def test_cuda_parity(run_dir, tmp_path):
    cuda = torch.device("cuda")
    if cuda_provider_problem() is not None:
        # Plain onnxruntime: export --device cuda must refuse clearly, and the torch backends on
        # the GPU must still match.
        with pytest.raises(GanError, match="install onnxruntime-gpu"):
            export_run(run_dir, tmp_path / "export-cuda", device=cuda, console=QUIET)
        result = export_run(run_dir, tmp_path / "export-cpu", console=QUIET)
        golden = load_golden(result.export_dir / "golden.npz")
        run = load_trained_run(run_dir)
        source = ModelSource(
            result.export_dir,
            result.manifest,
            {"generator": run.generator, "discriminator": run.discriminator},
        )
        backends = [
            (model, backend)
            for name in ("eager", "torchscript")
            for model, backend in build_backends(name, source, cuda).items()
        ]
        inputs = {m: golden[f"{m}.input"] for m in ("generator", "discriminator", "chain")}
        expected = {m: golden[f"{m}.output"] for m in inputs}
        comparisons = check_backends(backends, inputs, expected, DEFAULT_TOLERANCES)
    else:
        result = export_run(run_dir, tmp_path / "export-cuda", device=cuda, console=QUIET)
        comparisons = result.comparisons
        assert {"onnxruntime-iobinding", "onnxruntime-numpy"} <= {c.backend for c in comparisons}
    cuda_rows = [c for c in comparisons if c.device.startswith("cuda")]
    assert {c.backend for c in cuda_rows} >= {"eager", "torchscript"}
    assert {c.batch for c in cuda_rows} == set(PARITY_BATCHES)
    assert all(c.passed for c in comparisons), [c for c in comparisons if not c.passed]
