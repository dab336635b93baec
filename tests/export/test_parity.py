"""The parity rule and the bugs it exists to catch: a batch axis frozen by tracing, a model
exported in train mode; and the seeded inputs every comparison uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan.export.backends.eager import TorchBackend
from gan.export.backends.onnxruntime import OnnxRuntimeBackend
from gan.export.backends.torchscript import torchscript_backend
from gan.export.parity import DEFAULT_TOLERANCES, PARITY_BATCHES, Rule, Tolerance, check_backends, compare
from gan.export.to_onnx import export_onnx
from gan.export.torchscript import export_torchscript
from gan.models.inputs import IMAGE, Labels, Noise, Signature
from gan.models.spec import load_architecture


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


def test_inputs_follow_the_declared_shapes_seeded_and_never_constant():
    signature = Signature((Noise((100, 1, 1)), Labels(10)), (IMAGE, "labels"), (3, 8, 8))
    for role in ("generator", "discriminator", "chain"):
        a, b = signature.draw(role, 20, seed=5), signature.draw(role, 20, seed=5)
        assert [x.shape[1:] for x in a] == [spec.shape for spec in signature.inputs(role)]
        for x, y in zip(a, b):
            assert torch.equal(x, y) and x.float().std() > 0.1
    z, labels = signature.draw("generator", 20, seed=5)
    assert z.shape == (20, 100, 1, 1) and labels.dtype == torch.int64
    assert sorted(labels.tolist()) == sorted([c for c in range(10)] * 2)  # every class, evenly
    image, _ = signature.draw("discriminator", 20, seed=5)
    assert image.shape == (20, 3, 8, 8) and image.min() >= -1 and image.max() <= 1


class FrozenBatchGenerator(nn.Module):
    """The classic bug: batch taken from the traced shape becomes a constant in the graph."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, z):
        return self.generator(z).reshape(int(z.shape[0]), 1, 28, 28)


def _parity_of(module_backend, reference: nn.Module, model="generator"):
    inputs = {model: Signature((Noise((100,)),), (IMAGE,), (1, 28, 28)).draw(model, max(PARITY_BATCHES), 7)}
    with torch.no_grad():
        expected = {model: reference.eval()(*inputs[model])}
    return check_backends([(model, module_backend)], inputs, expected, Rule(DEFAULT_TOLERANCES))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the bug being simulated
def test_parity_catches_a_frozen_batch_axis(tmp_path):
    generator, _ = load_architecture("mlp")[0].build(seed=0)
    export_torchscript(FrozenBatchGenerator(generator), (torch.randn(3, 100),), tmp_path / "g.pt")
    results = _parity_of(torchscript_backend(tmp_path / "g.pt", torch.device("cpu")), generator)
    assert [r.passed for r in results] == [False, False, False]
    assert all(r.error for r in results)
    export_onnx(
        FrozenBatchGenerator(generator),
        (torch.randn(3, 100),),
        tmp_path / "g.onnx",
        ["z"],
        ["image"],
        free_axes={"z": {0: "batch"}, "image": {0: "batch"}},
        exporter="torchscript",
    )
    results = _parity_of(OnnxRuntimeBackend(tmp_path / "g.onnx", torch.device("cpu")), generator)
    assert not any(r.passed for r in results)


def test_parity_catches_a_model_exported_in_train_mode():
    generator, _ = load_architecture("mlp")[0].build(seed=0)
    with_dropout = nn.Sequential(generator, nn.Dropout(0.5))
    traced = torch.jit.trace(with_dropout.train(), torch.randn(3, 100), check_trace=False)
    results = _parity_of(TorchBackend("torchscript", traced, torch.device("cpu")), with_dropout)
    assert not any(r.passed for r in results)
