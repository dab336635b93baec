"""A file cache for exports that take seconds to make and depend only on what went in: the ONNX file
and the AOTInductor package of one traced program (graph and weights), one torch, one set of
settings. Re-exporting an unchanged run copies them instead of making them again. Entries are named
by the SHA-256 of their inputs, so a stale one is never found; each is moved in whole (os.replace).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """$GAN_CACHE_DIR/KIND, or ~/.cache/gan-toolkit/KIND."""
    root = os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan-toolkit"
    return Path(root) / kind


def cache_key(program: bytes, settings: dict) -> str:
    return hashlib.sha256(program + json.dumps(settings, sort_keys=True).encode()).hexdigest()


def cached_file(kind: str, key: str, suffix: str, make: Callable[[Path], None]) -> Path:
    """The cache's file for `key`, made first by `make(path)` into a temporary dir beside it when
    it is not there yet (a failed or interrupted make leaves nothing behind)."""
    cached = cache_dir(kind) / f"{key}{suffix}"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".making-") as tmp:
            made = Path(tmp) / f"made{suffix}"
            make(made)
            os.replace(made, cached)
    return cached
