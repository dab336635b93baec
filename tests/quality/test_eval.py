"""Quality: the classifier is accurate enough and a corrupt cache is retrained; FCD is recorded
during training and is the same through every exported backend."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
from helpers import CPU, assert_user_error, gan

from gan.data import load_dataset
from gan.data.images import normalize
from gan.export.sample import generator_backend
from gan.quality import classifier as classifier_module
from gan.quality.classifier import (
    PINNED_VERSION,
    REQUIRED_ACCURACY,
    cache_paths,
    load_or_train_classifier,
    pinned_paths,
    train_classifier,
)
from gan.quality.evaluation import evaluate_run


@pytest.mark.slow  # every held-out image through the classifier; its file's sha256 is checked on load
def test_the_pinned_classifier_is_accurate_enough(classifier, data_dir):
    """Measured here on the held-out split, not read back from its own record."""
    model, meta = classifier
    assert meta["source"] == "pinned" and meta["version"] == f"fashion-mnist-v{PINNED_VERSION}"
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    with torch.no_grad():
        predictions = torch.cat([model(normalize(batch)).argmax(1) for batch in data.test_images.split(2000)])
    measured = (predictions == data.test_labels).float().mean().item()
    assert measured >= REQUIRED_ACCURACY["fashion-mnist"]
    assert measured == pytest.approx(meta["test_accuracy"], abs=1e-6)


@pytest.mark.slow  # about 6 s on 2 cores; the full retrain below is slow too
def test_the_training_code_learns(data_dir):
    """The code that made the pinned weights, on a tenth of the data for one epoch (76% on the
    first 2000 test images, where the full run reaches 91%): the full run is the slow test below."""
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    subset = dataclasses.replace(
        data,
        train_images=data.train_images[:6000],
        train_labels=data.train_labels[:6000],
        test_images=data.test_images[:2000],
        test_labels=data.test_labels[:2000],
    )
    _, accuracy = train_classifier(subset, CPU, epochs=1)
    assert accuracy > 0.7


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["fashion-mnist", "mnist"])
def test_a_retrain_reaches_the_pinned_accuracy(dataset, data_dir):
    """What the pinned weights promise: the training code, run again, reaches the bar they met."""
    data = load_dataset(dataset, data_dir, sources=("cache",))
    pinned = json.loads(pinned_paths(dataset)[1].read_text())
    _, accuracy = train_classifier(data, CPU)
    assert accuracy >= REQUIRED_ACCURACY[dataset]
    assert accuracy == pytest.approx(pinned["test_accuracy"], abs=0.005)


def test_a_corrupt_pinned_or_cached_classifier_is_retrained(data_dir, tmp_path, monkeypatch):
    pinned_dir = tmp_path / "pinned"
    pinned_dir.mkdir()
    for source, copy in zip(pinned_paths("fashion-mnist"), pinned_paths("fashion-mnist", pinned_dir)):
        shutil.copy(source, copy)
    weights, _ = pinned_paths("fashion-mnist", pinned_dir)
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    retrained = []

    def fake_training(dataset, device):
        retrained.append(dataset.name)
        return classifier_module.Classifier(), 0.5

    monkeypatch.setattr(classifier_module, "train_classifier", fake_training)
    messages = []
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    _, meta = load_or_train_classifier(data, tmp_path, CPU, messages.append, pinned_dir=pinned_dir)
    assert (
        retrained == ["fashion-mnist"] and meta["test_accuracy"] == 0.5 and meta["source"] == "trained here"
    )
    assert any("pinned classifier" in m and "fails its sha256 check" in m for m in messages)
    cached, cached_meta = cache_paths(tmp_path, "fashion-mnist")
    assert cached.exists() and load_or_train_classifier(data, tmp_path, CPU, pinned_dir=pinned_dir)[1] == meta
    cached.write_bytes(cached.read_bytes()[:-8] + b"corrupt!")  # now the local cache fails too
    load_or_train_classifier(data, tmp_path, CPU, messages.append, pinned_dir=pinned_dir)
    assert retrained == ["fashion-mnist"] * 2
    assert any("classifier cache" in m and "retraining it" in m for m in messages)
    cached_meta.write_text("{not json")  # an unreadable record is rebuilt the same way
    load_or_train_classifier(data, tmp_path, CPU, pinned_dir=pinned_dir)
    assert retrained == ["fashion-mnist"] * 3 and json.loads(cached_meta.read_text())["test_accuracy"] == 0.5


@pytest.mark.slow  # two epochs with an FCD each
def test_eval_every_records_fcd(tmp_path, data_dir, classifier):
    out = tmp_path / "run"
    args = ["--epochs", "2", "--limit", "128", "--no-compile", "--gemm", "aten", "--eval-every", "1"]
    assert gan("train", *args, "--out", out, data_dir=data_dir).exit_code == 0
    rows = (out / "fcd.csv").read_text().splitlines()
    assert rows[0] == "epoch,fcd" and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert all(float(r.split(",")[1]) > 0 for r in rows[1:])
    assert (out / "fcd.png").stat().st_size > 0


def test_fcd_is_the_same_through_exported_backends(exported_run, tmp_path, data_dir, classifier):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    results = {}
    for backend in ("eager", "torchscript", "onnxruntime"):
        generator = None if backend == "eager" else generator_backend(run, backend, CPU)[0]
        results[backend] = evaluate_run(run, generator, backend=backend, n=500, data_dir=data_dir)
    fcds = [r["generated"]["fcd"] for r in results.values()]
    assert max(fcds) - min(fcds) < 1e-3 * max(fcds)
    eager = results["eager"]
    # A 1-epoch generator is far from the data; real vs real is the floor.
    assert eager["floor_real_train_vs_test"]["fcd"] < eager["generated"]["fcd"]
    assert 1 <= eager["generated"]["classifier_score"] <= 10
    assert eager["floor_real_train_vs_test"]["classifier_score"] > 5
    assert eager["floor_real_train_vs_test"]["coverage_kl"] < 0.05
    assert sum(eager["generated"]["class_histogram"]) == pytest.approx(1, abs=1e-3)
    saved = json.loads((run / "eval.json").read_text())
    assert saved["backend"] == "onnxruntime" and saved["arch"] == "mlp"  # the name, not a path


def test_eval_bad_inputs(tmp_path, trained_run, data_dir):
    assert_user_error(gan("eval", tmp_path), "has no checkpoint")
    assert_user_error(
        gan("eval", trained_run, "--dataset", "mnist", data_dir=data_dir),
        "was trained on fashion-mnist, not mnist",
    )
    assert_user_error(
        gan("eval", trained_run, "-n", "1", data_dir=data_dir), "-n must be between 2 and 100000"
    )
