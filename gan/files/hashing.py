"""sha256 of files and arrays, used to detect corrupt caches, checkpoints and artifacts."""

from __future__ import annotations

import hashlib
import os

import numpy as np


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_arrays(arrays: dict[str, np.ndarray]) -> str:
    """Hash of names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        if array.size:  # the bytes in place, not a copy of them
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()
