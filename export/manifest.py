"""manifest.json: the contract between export, parity and bench.

It lists every file with its sha256, the architecture and source checkpoint, input/output names,
shapes and dtypes, the opset and exporter, library versions, tolerances and parity results.
"""

from __future__ import annotations

import json
from pathlib import Path

from gan.atomic import write_text
from gan.errors import GanError
from gan.hashing import sha256_file

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def write_manifest(export_dir: Path, manifest: dict) -> None:
    manifest = {**manifest, "format_version": FORMAT_VERSION}
    manifest["files"] = {name: sha256_file(export_dir / name) for name in sorted(manifest["files"])}
    write_text(export_dir / MANIFEST, json.dumps(manifest, indent=2))


def read_manifest(export_dir: str | Path, verify: bool = True) -> dict:
    """The manifest, after checking that every file it lists is present and unchanged."""
    export_dir = Path(export_dir)
    path = export_dir / MANIFEST
    if not export_dir.is_dir():
        raise GanError(f"export dir {export_dir} does not exist")
    if not path.exists():
        raise GanError(f"{export_dir} has no {MANIFEST}; create one with `gan export RUN_DIR`")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        manifest["models"]
    except (ValueError, KeyError, TypeError) as error:
        raise GanError(f"{path} is corrupt ({type(error).__name__}: {error})") from None
    if verify:
        for name, expected in files.items():
            if not (export_dir / name).exists():
                raise GanError(f"{name} listed in {path} is missing")
            if sha256_file(export_dir / name) != expected:
                raise GanError(
                    f"{export_dir / name} changed since export: its sha256 no longer matches {MANIFEST}"
                )
    return manifest
