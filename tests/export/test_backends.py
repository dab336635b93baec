"""The one backend list: what each backend declares, how parity, bench and sample filter it, and
the clear errors of a backend fed the wrong inputs."""

from __future__ import annotations

import pytest
import torch

from gan.errors import GanError
from gan.export.backends import (
    BACKENDS,
    NAMES,
    backend_spec,
    bench_backends,
    parity_backends,
    sample_backends,
)
from gan.export.backends.onnxruntime import OnnxRuntimeBackend

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_every_backend_is_declared_once_with_what_it_can_do():
    assert len(NAMES) == len(set(NAMES)) == len(BACKENDS)
    for spec in BACKENDS:
        assert spec.summary and spec.devices
        assert set(spec.parity_on) <= set(spec.devices) and set(spec.bench_on) <= set(spec.devices)
        assert spec.forward is not None or spec.no_forward, spec.name
        assert spec.training is not None or spec.no_training, spec.name


def test_purposes_filter_the_one_list():
    assert [s.name for s in parity_backends(CPU)] == [
        "eager",
        "torchscript",
        "exported-program",
        "aoti",
        "onnxruntime",
        "openvino",
    ]
    assert [s.name for s in parity_backends(CUDA)] == [
        "eager",
        "torchscript",
        "exported-program",
        "aoti",
        "onnxruntime-iobinding",
        "onnxruntime-numpy",
    ]
    assert [s.name for s in bench_backends(CPU)] == [
        "eager",
        "eager-onednn",
        "torchscript",
        "exported-program",
        "aoti",
        "onnxruntime",
        "openvino",
        "compile",
        "compile-step",
    ]
    assert "cudagraph" in [s.name for s in bench_backends(CUDA)]
    assert "onnxruntime" not in [s.name for s in bench_backends(CUDA)]  # its explicit modes are
    assert {s.name for s in sample_backends()} == {s.name for s in BACKENDS if s.parity_on}


def test_a_backend_says_why_it_cannot_run():
    assert backend_spec("cudagraph").problem(CPU) == "cudagraph runs on cuda, not cpu"
    assert (
        backend_spec("compile-step").forward is None
        and "training path" in backend_spec("compile-step").no_forward
    )
    assert "no maintained training path" in backend_spec("onnxruntime").no_training
    with pytest.raises(GanError, match="unknown backend 'tensorrt'; choose one of eager, eager-onednn"):
        backend_spec("tensorrt")


def test_wrong_input_name_and_shape_are_clear(exported_run):
    backend = OnnxRuntimeBackend(exported_run / "export" / "generator.onnx", CPU)
    with pytest.raises(GanError, match=r"generator.onnx has input\(s\) \['z'\], got \['noise'\]"):
        backend.bind_feed({"noise": torch.randn(2, 100)})
    with pytest.raises(
        GanError, match=r"input 'z' of generator.onnx expects shape \(batch, 100\), got \(2, 99\)"
    ):
        backend(torch.randn(2, 99))


def test_torchscript_says_why_it_cannot_train_a_spectral_norm():
    from helpers import REPO, fresh_models

    from gan.bench.train_variants import TrainSetup, make_train_variant
    from gan.export.backends import Unavailable
    from gan.train.loss import GanLoss

    architecture, generator, discriminator = fresh_models(f"{REPO}/examples/sngan.py:TINY_SNGAN")
    setup = TrainSetup(generator, discriminator, GanLoss(output="logits"), architecture.signature, 8, CPU)
    with pytest.raises(Unavailable, match="a traced spectral norm .* cannot train"):
        make_train_variant("torchscript", setup)
    assert torch.isfinite(make_train_variant("eager", setup).runs["iteration"]()).all()
