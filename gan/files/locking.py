"""One process owns a run dir or an export dir at a time.

An exclusive `fcntl.flock` on a lock file named after the dir's resolved path, in the system's
temp dir: nothing is added to the user's folders, and the dir itself can be swapped out while
locked. The kernel releases the lock when the process dies, so there is never a stale lock to
clean up; the holder's pid is written into the file to name it in the refusal. Processes on one
machine are covered; flock is not reliable across machines on network file systems.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gan.errors import GanError


def lock_path(directory: str | os.PathLike) -> Path:
    key = hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:32]
    return Path(tempfile.gettempdir()) / "gan-toolkit-locks" / f"{key}.lock"


@contextlib.contextmanager
def exclusive(directory: str | os.PathLike, what: str = "dir") -> Iterator[None]:
    """Holds the lock of `directory` for the block, or raises GanError naming the holder."""
    path = lock_path(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise GanError(f"cannot lock {directory}: {error.strerror or error}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise GanError(
                f"{what} {directory} is in use by another gan process (pid {holder}); "
                "wait for it to finish or pick another dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
