"""Atomic, durable file writes: a reader sees the old file or the new one, never half of one, and
after a crash the new one is on disk (the file and its directory are fsynced)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gan.errors import EnvironmentMissing, GanError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success it replaces `path` in one step.

    Any OSError (a directory in the way, no permission, a full disk, a name too long) becomes a
    one-line GanError naming the path."""
    path = Path(path)
    tmp = None
    try:
        if path.is_dir():
            raise GanError(f"cannot write {path}: it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        # A short fixed prefix keeps the temporary name legal even when `path`'s name is at the
        # file system's 255-byte limit.
        fd, tmp = tempfile.mkstemp(prefix=".gan-tmp-", suffix=path.suffix[:16], dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        # mkstemp makes 0600, and some writers (safetensors) recreate the file that way; the
        # artifacts are meant to be shared.
        os.chmod(tmp, 0o644)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):  # the machine's, not the input's: exit 3
            raise EnvironmentMissing(
                f"no space left on the device writing {path}; nothing already there was changed"
            ) from None
        raise GanError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _fsync(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """`data` written atomically; refused before a byte is written when the disk has no room
    for it (a cheap check that spares filling the disk to the last block)."""
    with atomic_path(path) as tmp:
        if shutil.disk_usage(tmp.parent).free < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def check_writable(path: str | os.PathLike, parent_must_exist: bool = False) -> None:
    """Fails early, in one line, for an output path that a later write could not create (or, with
    `parent_must_exist`, whose directory does not exist yet: a report path with a typo in it)."""
    path = Path(path)
    if path.is_dir():
        raise GanError(f"cannot write {path}: it is a directory")
    if parent_must_exist and not path.parent.is_dir():
        raise GanError(f"cannot write {path}: {path.parent} does not exist")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise GanError(f"cannot write {path}: {parent} is not a writable directory")


def check_writable_dir(path: str | os.PathLike) -> None:
    """Fails early for a directory of outputs that cannot be created or written to."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GanError(f"cannot write into {path}: it is not a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise GanError(f"cannot write into {path}: {existing} is not a writable directory")
