"""manifest.json: the contract between export, parity and bench.

It lists every file with its sha256, the architecture and source checkpoint, input/output names,
shapes and dtypes, the opset and exporter, library versions, tolerances and parity results.

Export dirs travel between people, so a manifest is checked before any file it names is opened:
every name is a plain file name inside the dir (no separator, no `..`, not absolute), is a regular
file (not a symlink or a device), is listed under `files`, and matches its sha256.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

from gan.atomic import write_text
from gan.errors import GanError
from gan.hashing import sha256_file
from gan.ownership import EXPORT_FORMAT

MANIFEST = "manifest.json"
FORMAT_VERSION = 2
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_MANIFEST_BYTES = 16 << 20


def write_manifest(export_dir: Path, manifest: dict) -> None:
    manifest = {"format": EXPORT_FORMAT, **manifest, "format_version": FORMAT_VERSION}
    manifest["files"] = {name: sha256_file(export_dir / name) for name in sorted(manifest["files"])}
    write_text(export_dir / MANIFEST, json.dumps(manifest, indent=2))


def read_manifest(export_dir: str | Path, verify: bool = True) -> dict:
    """The manifest, after checking its shape and (with `verify`) every file it names."""
    export_dir = Path(export_dir)
    path = export_dir / MANIFEST
    if not export_dir.is_dir():
        raise GanError(f"export dir {export_dir} does not exist")
    if not path.is_file():
        raise GanError(f"{export_dir} has no {MANIFEST}; create one with `gan export RUN_DIR`")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError("larger than 16 MiB")
        manifest = json.loads(path.read_text())
        _check_shape(manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise GanError(f"{path} is corrupt ({type(error).__name__}: {error})") from None
    _check_files(export_dir, manifest)  # before any of them is opened
    if verify:
        for name, expected in manifest["files"].items():
            if sha256_file(export_dir / name) != expected:
                raise GanError(
                    f"{export_dir / name} changed since export: its sha256 no longer matches {MANIFEST}"
                )
    return manifest


def _check_shape(manifest: dict) -> None:
    """Raises ValueError/KeyError/TypeError when a field the toolkit reads has the wrong form."""
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not a gan export manifest (format is not {EXPORT_FORMAT!r})")
    files = manifest["files"]
    hashes = files.values() if isinstance(files, dict) else [None]
    if not all(isinstance(v, str) and SHA256.fullmatch(v) for v in hashes):
        raise ValueError("'files' must map file names to sha256 hex digests")
    for name in files:
        _check_name(name)
    models = manifest["models"]
    if not isinstance(models, dict) or not {"generator"} <= set(models) <= {"generator", "discriminator"}:
        raise ValueError("'models' must hold 'generator' and optionally 'discriminator'")
    referenced = [manifest["golden"]["file"]]
    for model in models.values():
        referenced += [model["files"]["torchscript"], model["files"]["onnx"]]
    for name in referenced:
        if name not in files:
            raise ValueError(f"{name!r} is used but not listed (and hash-checked) under 'files'")
    for key in ("z_shape", "image_shape"):
        if not manifest[key] or not all(isinstance(d, int) and 0 < d < 1 << 20 for d in manifest[key]):
            raise ValueError(f"{key!r} must be a list of positive ints")
    batches = manifest["golden"]["batches"]
    if not batches or not all(isinstance(b, int) and 0 < b <= 1 << 16 for b in batches):
        raise ValueError("'golden.batches' must be a list of positive ints")
    for tolerance in manifest["tolerances"].values():
        float(tolerance["atol"]), float(tolerance["rtol"])


def _check_name(name) -> None:
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or name != os.path.basename(name)
        or "\\" in name
        or "\0" in name
        or os.path.isabs(name)
    ):
        raise ValueError(f"file name {name!r} is not a plain name inside the export dir")


def _check_files(export_dir: Path, manifest: dict) -> None:
    for name in manifest["files"]:
        try:
            mode = os.lstat(export_dir / name).st_mode
        except FileNotFoundError:
            raise GanError(f"{name} listed in {export_dir / MANIFEST} is missing") from None
        if not stat.S_ISREG(mode):
            raise GanError(f"{export_dir / name} is not a regular file (a link or a device); refused")


def effective_tolerances(manifest: dict, defaults: dict) -> dict:
    """The toolkit's tolerances; a manifest may only tighten them, never loosen."""
    result = {}
    for device, default in defaults.items():
        given = manifest.get("tolerances", {}).get(device, {})
        values = {}
        for key, limit in vars(default).items():
            value = given.get(key, limit)
            ok = isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
            values[key] = min(value, limit) if ok else limit
        result[device] = type(default)(**values)
    return result
