"""A dir that lists its own files with their sha256, as an export dir's manifest.json does.

Such dirs travel between people, so the listing is checked before any file it names is opened:
every name is a plain file name inside the dir (no separator, no `..`, not absolute), is a regular
file (not a symlink, a device or a FIFO), and matches its sha256.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from gan.errors import GanError
from gan.files.hashing import sha256_file

SHA256 = re.compile(r"[0-9a-f]{64}")


def check_listing(files) -> None:
    """Raises ValueError unless `files` maps plain names to sha256 hex digests."""
    hashes = files.values() if isinstance(files, dict) else [None]
    if not all(isinstance(v, str) and SHA256.fullmatch(v) for v in hashes):
        raise ValueError("'files' must map file names to sha256 hex digests")
    for name in files:
        if (
            not isinstance(name, str)
            or name in ("", ".", "..")
            or name != os.path.basename(name)
            or "\\" in name
            or "\0" in name
            or os.path.isabs(name)
        ):
            raise ValueError(f"file name {name!r} is not a plain name inside the export dir")


def check_listed_files(directory: Path, files: dict[str, str], listed_in: str, verify: bool = True) -> None:
    """Every listed file is a regular file in `directory`; with `verify`, it matches its sha256."""
    for name in files:
        try:
            mode = os.lstat(directory / name).st_mode
        except FileNotFoundError:
            raise GanError(f"{name} listed in {directory / listed_in} is missing") from None
        if not stat.S_ISREG(mode):
            raise GanError(f"{directory / name} is not a regular file (a link or a device); refused")
    if verify:
        for name, expected in files.items():
            if sha256_file(directory / name) != expected:
                raise GanError(
                    f"{directory / name} changed since export: its sha256 no longer matches {listed_in}"
                )
