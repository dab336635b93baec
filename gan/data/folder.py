"""A user's own images as a dataset: a folder (one subfolder per class, as torchvision's
ImageFolder lays it out), a .zip of one, or an .npz of arrays.

Every image is decoded by Pillow (PNG, JPEG, WebP; torchvision's own decoders are deprecated in
favour of TorchCodec), converted to the Architecture's channel count, resized (torchvision,
antialiased) to cover its height and width and center-cropped to them, straight into one
preallocated uint8 tensor (N, C, H, W): no second decoded copy is ever held. Decoding runs on a
thread per core (Pillow's decoders release the GIL). The result is cached once in the data
dir under a key of the listing (names, sizes, modification times) and the shape, with its
sha256, so a second run starts in seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from gan.errors import GanError
from gan.files.atomic import atomic_path, write_text
from gan.files.hashing import sha256_arrays

FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# Bump when the conversion changes, so older caches are rebuilt rather than trusted.
FOLDER_CACHE_VERSION = 1
# The decoded images may take at most this share of the memory available when training starts.
MEMORY_SHARE = 0.6


@dataclass(frozen=True)
class ImageSource:
    """Where each image's bytes are: (name, class index) per image, and how to read them."""

    path: Path
    names: list[str]
    labels: list[int]
    classes: tuple[str, ...]
    fingerprint: str  # changes when any listed file does

    @contextlib.contextmanager
    def opened(self) -> Iterator[Callable[[int], bytes]]:
        """A reader of image i's bytes (a zip is opened once per reader, not per image)."""
        if self.path.suffix.lower() == ".zip":
            with zipfile.ZipFile(self.path) as archive:
                yield lambda i: archive.read(self.names[i])
        else:
            yield lambda i: (self.path / self.names[i]).read_bytes()

    def subset(self, count: int, seed: int) -> ImageSource:
        """`count` of the images, a seeded random choice kept in listing order (for --limit)."""
        if count >= len(self.names):
            return self
        keep = sorted(
            torch.randperm(len(self.names), generator=torch.Generator().manual_seed(seed))[:count].tolist()
        )
        return ImageSource(
            self.path,
            [self.names[i] for i in keep],
            [self.labels[i] for i in keep],
            self.classes,
            f"{self.fingerprint}:{count}:{seed}",
        )


def is_user_data(dataset: str) -> bool:
    """True when `dataset` names files (a folder, .zip or .npz) rather than a bundled dataset."""
    return os.sep in dataset or "/" in dataset or Path(dataset).suffix.lower() in (".zip", ".npz")


def list_images(path: Path) -> ImageSource:
    """The images of a folder or .zip, in a fixed order, with their classes: the subfolders when
    there are any (images at the top level are then not used, as with ImageFolder), else one
    class holding every image."""
    if not path.exists():
        raise GanError(f"{path} does not exist")
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = [i.filename for i in archive.infolist() if _is_image(i.filename) and not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as error:
            raise GanError(f"{path} is not a readable zip ({error})") from None
        fingerprint = _fingerprint([(path.name, path.stat().st_size, path.stat().st_mtime_ns)])
    elif path.is_dir():
        names = sorted(str(p.relative_to(path)) for p in path.rglob("*") if _is_image(p.name) and p.is_file())
        fingerprint = _fingerprint([(n, *_size_and_time(path / n)) for n in names])
    else:
        raise GanError(f"{path} is neither a folder of images, a .zip nor an .npz")
    nested = [n for n in names if "/" in n.replace(os.sep, "/")]
    if nested:  # classes: the first folder level, as ImageFolder reads it
        names = sorted(nested)
        class_of = [n.replace(os.sep, "/").split("/")[0] for n in names]
        classes = tuple(sorted(set(class_of)))
        labels = [classes.index(c) for c in class_of]
    else:
        classes, labels = ("images",), [0] * len(names)
    if not names:
        raise GanError(f"{path} holds no images ({', '.join(FOLDER_SUFFIXES)})")
    return ImageSource(path, names, labels, classes, fingerprint)


def decode_all(
    source: ImageSource,
    shape: tuple[int, int, int],
    *,
    skip_bad: bool = False,
    advance: Callable[[int], None] = lambda _: None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, C, H, W), labels int64 (N,)), decoded on every core. A file that cannot
    be decoded stops everything, naming it, unless `skip_bad` leaves it out."""
    check_memory(len(source.names), shape)
    images = torch.empty((len(source.names), *shape), dtype=torch.uint8)
    chunks = [range(i, min(i + 256, len(source.names))) for i in range(0, len(source.names), 256)]

    def decode_chunk(indices: range) -> list[tuple[int, str]]:
        bad = []
        with source.opened() as read:
            for i in indices:
                try:
                    images[i] = fit_image(decode(read(i), shape[0]), shape)
                except UnidentifiedImageError:
                    bad.append((i, "not an image Pillow can read"))
                except (ValueError, OSError, SyntaxError, Image.DecompressionBombError) as error:
                    bad.append((i, (str(error).splitlines() or [type(error).__name__])[0][:120]))
        return bad

    bad: list[tuple[int, str]] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for indices, chunk_bad in zip(chunks, pool.map(decode_chunk, chunks)):
            bad += chunk_bad
            advance(len(indices))
    labels = torch.tensor(source.labels, dtype=torch.int64)
    if bad and not skip_bad:
        first, reason = bad[0]
        raise GanError(
            f"{len(bad)} of {len(source.names)} images in {source.path} could not be read, "
            f"first {source.names[first]} ({reason}); fix or remove them, or pass --skip-bad-images"
        )
    if bad:
        images, labels = _without(images, labels, {i for i, _ in bad})
    return images, labels


def fit_image(image: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """A uint8 (C, H, W) image resized (antialiased) to cover `shape`'s height and width, then
    center-cropped to them; the channels were converted by the decoder."""
    _, height, width = shape
    scale = max(height / image.shape[-2], width / image.shape[-1])
    size = [max(height, round(image.shape[-2] * scale)), max(width, round(image.shape[-1] * scale))]
    if size != list(image.shape[-2:]):
        image = TF.resize(image, size, antialias=True)
    return TF.center_crop(image, [height, width])


def read_npz(path: Path, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """An .npz with `images` (N, H, W), (N, H, W, C) or (N, C, H, W) uint8, optional `labels`
    (N,) ints and `classes` (names): fitted to `shape` like decoded files."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "images" not in npz:
                raise GanError(f"{path} has no 'images' array (it has {', '.join(npz.files) or 'none'})")
            raw = npz["images"]
            labels = npz["labels"] if "labels" in npz else np.zeros(len(raw), dtype=np.int64)
            names = tuple(str(c) for c in npz["classes"]) if "classes" in npz else None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise GanError(f"{path} is not a readable .npz ({error})") from None
    if raw.dtype != np.uint8 or raw.ndim not in (3, 4) or len(raw) == 0:
        raise GanError(
            f"{path}: images must be a non-empty uint8 array of 3 or 4 dims, got {raw.dtype} {raw.shape}"
        )
    if labels.shape != (len(raw),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise GanError(f"{path}: labels must be {len(raw)} non-negative ints")
    classes = names or tuple(str(c) for c in range(int(labels.max()) + 1))
    check_memory(len(raw), shape)
    images = torch.empty((len(raw), *shape), dtype=torch.uint8)
    for i, picture in enumerate(raw):
        images[i] = fit_image(_channels(torch.from_numpy(_chw(picture)), shape[0]), shape)
    return images, torch.from_numpy(labels.astype(np.int64)), classes


def load_user_data(
    path: Path,
    shape: tuple[int, int, int],
    data_dir: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    skip_bad: bool = False,
    progress=None,
    log: Callable[[str], None] = lambda _: None,
):
    """The images at `path` as a Dataset of `shape` (all of them in its train split; no test
    split), from the cache when the files have not changed since they were decoded."""
    from gan.data.datasets import Dataset  # the bundled datasets' module imports this one

    path = Path(path)
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise GanError(f"{path} does not exist")
        source, fingerprint = None, _fingerprint([(path.name, *_size_and_time(path))])
    else:
        source = list_images(path)
        if limit is not None:
            source = source.subset(limit, seed)
        fingerprint = source.fingerprint
    key = cache_key(path, shape, fingerprint, {"limit": limit, "skip_bad": skip_bad})
    cached, origin = read_cached(data_dir, key), "cache"
    if cached is not None:
        images, labels, classes = cached
    elif source is None:
        (images, labels, classes), origin = read_npz(path, shape), "npz"
        images, labels = images[:limit], labels[:limit]
    else:
        task = (
            progress.add_task(f"decoding {path.name}", total=len(source.names), status="")
            if progress
            else None
        )
        advance = (lambda n: progress.advance(task, n)) if progress else (lambda _: None)
        (images, labels), classes, origin = (
            decode_all(source, shape, skip_bad=skip_bad, advance=advance),
            source.classes,
            "files",
        )
    if cached is None:
        write_cached(data_dir, key, images, labels, classes, log)
    return Dataset(
        name=str(path),
        classes=tuple(classes),
        train_images=images,
        train_labels=labels,
        test_images=images[:0],
        test_labels=labels[:0],
        source=origin,
    )


def check_memory(count: int, shape: tuple[int, int, int]) -> None:
    """Refuses, before decoding, a dataset whose uint8 tensor would not fit comfortably."""
    needed = count * math.prod(shape)
    available = available_memory()
    if available is not None and needed > MEMORY_SHARE * available:
        fits = int(MEMORY_SHARE * available // math.prod(shape))
        raise GanError(
            f"{count} images of {'x'.join(map(str, shape))} take {needed / 2**30:.1f} GiB as uint8, "
            f"more than this machine can hold for training ({available / 2**30:.1f} GiB available); "
            f"about {fits} fit: pass --limit {fits}"
        )


def available_memory() -> int | None:
    """Bytes of memory available for new data (Linux's MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cache_key(path: Path, shape: tuple, fingerprint: str, options: dict) -> str:
    record = {"version": FOLDER_CACHE_VERSION, "path": str(path.resolve()), "shape": list(shape), **options}
    return hashlib.sha256(json.dumps([record, fingerprint], sort_keys=True).encode()).hexdigest()[:20]


def read_cached(data_dir: Path, key: str) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]] | None:
    arrays_path, meta_path = _cache_paths(data_dir, key)
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(arrays_path) as npz:
            arrays = {"images": npz["images"], "labels": npz["labels"]}
    except Exception:  # absent, truncated or damaged: decode again
        return None
    if sha256_arrays(arrays) != meta.get("sha256"):
        return None
    return torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"]), tuple(meta["classes"])


def write_cached(data_dir: Path, key: str, images: torch.Tensor, labels: torch.Tensor, classes, log) -> None:
    arrays_path, meta_path = _cache_paths(data_dir, key)
    arrays = {"images": images.numpy(), "labels": labels.numpy()}
    try:
        arrays_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(arrays_path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        write_text(meta_path, json.dumps({"sha256": sha256_arrays(arrays), "classes": list(classes)}))
    except OSError as error:
        log(
            f"could not cache the decoded images in {arrays_path.parent} ({error.strerror}); "
            "they will be decoded again next time"
        )


def _cache_paths(data_dir: Path, key: str) -> tuple[Path, Path]:
    return data_dir / "images" / f"{key}.npz", data_dir / "images" / f"{key}.json"


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in FOLDER_SUFFIXES and not Path(name).name.startswith(".")


def _size_and_time(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _fingerprint(entries: list[tuple]) -> str:
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def decode(data: bytes, channels: int) -> torch.Tensor:
    """One encoded image as uint8 (C, H, W), grey or RGB (alpha and palettes converted away)."""
    with Image.open(io.BytesIO(data)) as picture:
        pixels = np.asarray(picture.convert("L" if channels == 1 else "RGB"))
    return torch.from_numpy(pixels.reshape(*pixels.shape[:2], channels).copy()).permute(2, 0, 1)


def _chw(picture: np.ndarray) -> np.ndarray:
    """One stored image as (C, H, W): (H, W) grey, (H, W, C) with C in 1/3/4, or already (C, H, W)."""
    if picture.ndim == 2:
        return picture[None]
    if picture.shape[-1] in (1, 3, 4) and picture.shape[0] not in (1, 3, 4):
        return np.ascontiguousarray(picture.transpose(2, 0, 1))
    return picture


def _channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey to colour by repetition, colour to grey by ITU-R 601 luma, alpha dropped."""
    image = image[:3]
    if image.shape[0] == channels:
        return image
    if channels == 3:
        return image.expand(3, -1, -1)
    return TF.rgb_to_grayscale(image)


def _without(images: torch.Tensor, labels: torch.Tensor, bad: set[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows not in `bad`, moved down in place: no second copy of the images is made."""
    kept = 0
    for i in range(len(images)):
        if i in bad:
            continue
        if kept != i:
            images[kept] = images[i]
            labels[kept] = labels[i]
        kept += 1
    return images[:kept], labels[:kept]
