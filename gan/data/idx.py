"""Reader for the IDX format that MNIST and Fashion-MNIST ship in (plain or gzipped)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from gan.errors import GanError

# The third byte of the magic number names the element type; these are the ones IDX defines.
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file, checked against the sizes in its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise GanError(f"cannot read IDX file {path}: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise GanError(f"{path} is not an IDX file (bad magic number)")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header_bytes = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header_bytes + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise GanError(f"{path} is truncated or padded: header says {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype, offset=header_bytes).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes `array` (uint8 or int64 labels stored as uint8) in IDX layout, gzipped for `.gz`."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
