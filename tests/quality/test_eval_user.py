"""Quality of what users train: label accuracy of a conditional G, and runs on a user's own
images, which have no pinned classifier (no FCD without one; their own, or one trained here)."""

import json

import pytest
import torch
from helpers import REPO, assert_user_error, gan, image_folder
from torch import nn

from gan.quality.classifier import Classifier

COLOUR = f"{REPO}/examples/conditional_dcgan.py:TINY_COLOUR_CDCGAN"


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("eval-user")
    images = image_folder(root / "images", data_dir, per_class=20)
    run = root / "run"
    result = gan(
        "train",
        "--arch",
        COLOUR,
        "--data",
        images,
        "--epochs",
        "1",
        "--no-compile",
        "--out",
        run,
        "--data-dir",
        root / "cache",
    )
    assert result.exit_code == 0, result.output
    return run, root / "cache"


def test_a_folder_run_has_no_fcd_without_a_classifier(folder_run):
    run, cache = folder_run
    result = gan("eval", run, "-n", "100", "--data-dir", cache)
    assert_user_error(result, "has no pinned classifier, so there is no FCD to give: pass --classifier")
    assert not (run / "eval.json").exists()


def test_train_classifier_measures_a_folder_run_with_label_accuracy(folder_run):
    run, cache = folder_run
    result = gan("eval", run, "-n", "100", "--train-classifier", "--data-dir", cache)
    assert result.exit_code == 0, result.output
    record = json.loads((run / "eval.json").read_text())
    assert (
        record["classifier"]["version"].startswith("local-")
        and record["classifier"]["required_accuracy"] is None
    )
    generated = record["generated"]
    assert generated["fcd"] > 0 and 0 <= generated["label_accuracy"] <= 1
    assert (
        len(generated["label_accuracy_per_class"]) == 10
        and "label accuracy per class: Ankle boot" in result.output
    )
    assert record["floor_real_train_vs_test"]["fcd"] < generated["fcd"]


def test_a_users_torchscript_classifier_measures_with_its_named_features(folder_run, tmp_path):
    run, cache = folder_run
    path = tmp_path / "judge.pt"
    torch.jit.script(Classifier((3, 32, 32), 10).eval()).save(str(path))
    result = gan(
        "eval", run, "-n", "100", "--classifier", path, "--feature-layer", "features", "--data-dir", cache
    )
    assert result.exit_code == 0, result.output
    record = json.loads((run / "eval.json").read_text())
    assert record["classifier"]["version"].startswith("user-") and record["classifier"]["source"] == str(path)
    assert record["generated"]["label_accuracy"] is not None
    bad = gan("eval", run, "--classifier", path, "--feature-layer", "trunk", "--data-dir", cache)
    assert_user_error(bad, "--feature-layer trunk: the classifier has no submodule 'trunk'")
    (tmp_path / "junk.pt").write_text("no")
    assert_user_error(
        gan("eval", run, "--classifier", tmp_path / "junk.pt", "--data-dir", cache),
        "is not a TorchScript file",
    )
    assert_user_error(
        gan("eval", run, "--feature-layer", "x", "--data-dir", cache),
        "--feature-layer names a layer of --classifier",
    )


@pytest.mark.slow  # a training run and an eval (~3 s); CI runs the slow tier too
def test_the_cgan_is_judged_on_the_class_it_was_asked_for(tmp_path, data_dir):
    run = tmp_path / "run"
    trained = gan(
        "train",
        "--arch",
        "cgan",
        "--epochs",
        "1",
        "--limit",
        "640",
        "--no-compile",
        "--out",
        run,
        data_dir=data_dir,
    )
    assert trained.exit_code == 0, trained.output
    result = gan("eval", run, "-n", "200", data_dir=data_dir)
    assert result.exit_code == 0, result.output
    generated = json.loads((run / "eval.json").read_text())["generated"]
    per_class = generated["label_accuracy_per_class"]
    assert len(per_class) == 10 and abs(sum(per_class) / 10 - generated["label_accuracy"]) < 1e-3
    assert "label accuracy per class: T-shirt/top" in result.output
    assert_user_error(
        gan("eval", run, "--train-classifier", data_dir=data_dir),
        "--train-classifier is for runs on your own images",
    )


def test_a_classifier_fits_any_image_shape_and_class_count():
    assert Classifier((3, 32, 32), 7)(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    assert isinstance(Classifier().head, nn.Linear) and Classifier().head.out_features == 10
