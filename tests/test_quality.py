"""DCGAN plugs in everywhere; quality metrics are sane, cached safely, and equal across backends."""

import json
import shutil

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

import gan.classifier as classifier_module
from gan.bench.page import write_report
from gan.classifier import REQUIRED_ACCURACY, cache_paths, load_or_train_classifier
from gan.cli import app
from gan.config import TrainConfig
from gan.data import load_dataset
from gan.evaluation import evaluate_run
from gan.export.exporter import export_run
from gan.step import normalize
from gan.trainer import train
from tests.conftest import fresh_models
from tests.test_cli_train import assert_user_error

QUIET = Console(quiet=True)
CPU = torch.device("cpu")
runner = CliRunner()


def test_dcgan_layers_and_init():
    _, generator, discriminator = fresh_models("dcgan")
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(128, 64), (64, 1)]
    assert abs(convs[0].weight.std().item() - 0.02) < 0.002
    x = torch.randn(5, 100)
    with torch.no_grad():
        hidden = generator.net[:3](generator.project(x).view(-1, 128, 7, 7))
    assert hidden.shape == (5, 64, 14, 14)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())


@pytest.fixture(scope="session")
def classifier(data_dir):
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    return load_or_train_classifier(data, data_dir, CPU)


def test_classifier_is_accurate_enough(classifier, data_dir):
    """Measured here on the held-out split, not read back from the cache's own record."""
    model, meta = classifier
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    with torch.no_grad():
        predictions = torch.cat([model(normalize(batch)).argmax(1) for batch in data.test_images.split(2000)])
    measured = (predictions == data.test_labels).float().mean().item()
    assert measured >= REQUIRED_ACCURACY["fashion-mnist"]
    assert measured == pytest.approx(meta["test_accuracy"], abs=1e-6)


def test_corrupt_classifier_cache_is_retrained(classifier, data_dir, tmp_path, monkeypatch):
    for path in cache_paths(data_dir, "fashion-mnist"):
        shutil.copy(path, tmp_path / path.name)
    weights, _ = cache_paths(tmp_path, "fashion-mnist")
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    retrained = []

    def fake_training(dataset, device):
        retrained.append(dataset.name)
        return classifier_module.Classifier(), 0.5

    monkeypatch.setattr(classifier_module, "train_classifier", fake_training)
    messages = []
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    _, meta = load_or_train_classifier(data, tmp_path, CPU, messages.append)
    assert retrained == ["fashion-mnist"] and meta["test_accuracy"] == 0.5
    assert any("fails its sha256 check; retraining" in m for m in messages)


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory, data_dir, classifier):
    run_dir = tmp_path_factory.mktemp("quality") / "run"
    train(
        TrainConfig(epochs=2, limit=2048, compile=False, eval_every=1),
        run_dir,
        CPU,
        data_dir=data_dir,
        console=QUIET,
    )
    export_run(run_dir, console=QUIET)
    return run_dir


def test_eval_every_records_fcd(exported_run):
    rows = (exported_run / "fcd.csv").read_text().splitlines()
    assert rows[0] == "epoch,fcd" and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert all(float(r.split(",")[1]) > 0 for r in rows[1:])
    assert (exported_run / "fcd.png").stat().st_size > 0


def test_fcd_is_the_same_through_exported_backends(exported_run, data_dir):
    results = {
        b: evaluate_run(exported_run, b, n=1000, data_dir=data_dir)
        for b in ("eager", "torchscript", "onnxruntime")
    }
    fcds = [r["generated"]["fcd"] for r in results.values()]
    assert max(fcds) - min(fcds) < 1e-3 * max(fcds)
    eager = results["eager"]
    # A 2-epoch generator is far from the data; real vs real is the floor.
    assert eager["floor_real_train_vs_test"]["fcd"] < eager["generated"]["fcd"]
    assert 1 <= eager["generated"]["classifier_score"] <= 10
    assert eager["floor_real_train_vs_test"]["classifier_score"] > 5
    assert eager["floor_real_train_vs_test"]["coverage_kl"] < 0.05
    assert sum(eager["generated"]["class_histogram"]) == pytest.approx(1, abs=1e-3)
    assert json.loads((exported_run / "eval.json").read_text())["backend"] == "onnxruntime"


def test_report_is_one_self_contained_page(exported_run, data_dir):
    evaluate_run(exported_run, "eager", n=500, data_dir=data_dir)
    html_path, markdown_path = write_report(exported_run)
    page = html_path.read_text()
    for section in ("Configuration", "Samples", "Losses", "Quality", "Export parity", "Environment"):
        assert f"<h2>{section}</h2>" in page and f"## {section}" in markdown_path.read_text()
    assert page.count("data:image/png;base64,") >= 4 and "data:image/gif;base64," in page
    assert "not comparable to" in page


def test_eval_bad_inputs(tmp_path, exported_run):
    assert_user_error(runner.invoke(app, ["eval", str(tmp_path)]), "has no checkpoint")
    assert_user_error(
        runner.invoke(app, ["eval", str(exported_run), "--dataset", "mnist"]),
        "was trained on fashion-mnist, not mnist",
    )
    assert_user_error(runner.invoke(app, ["report", str(tmp_path)]), "has no checkpoint")
