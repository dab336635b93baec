"""manifest.json: the contract between export, parity and bench.

It lists every file with its sha256, the architecture and source checkpoint, input/output names,
shapes and dtypes, the opset and exporter, library versions, tolerances and parity results.

Export dirs travel between people, so a manifest is checked before any file it names is opened
(gan.files.listing): every name is a plain file name inside the dir, a regular file, listed under
`files`, and matches its sha256.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from gan.errors import GanError
from gan.export.precision import Budget
from gan.files.atomic import write_text
from gan.files.hashing import sha256_file
from gan.files.listing import check_listed_files, check_listing
from gan.files.ownership import EXPORT_FORMAT
from gan.models.inputs import IMAGE, Signature

MANIFEST = "manifest.json"
# 3: models may take several named inputs (the signature); 2 had one noise input.
FORMAT_VERSION = 3
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
    check_listed_files(export_dir, manifest["files"], MANIFEST, verify)  # before any is opened
    return manifest


def _check_shape(manifest: dict) -> None:
    """Raises ValueError/KeyError/TypeError when a field the toolkit reads has the wrong form."""
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not a gan export manifest (format is not {EXPORT_FORMAT!r})")
    files = manifest["files"]
    check_listing(files)
    models = manifest["models"]
    if not isinstance(models, dict) or not {"generator"} <= set(models) <= {"generator", "discriminator"}:
        raise ValueError("'models' must hold 'generator' and optionally 'discriminator'")
    referenced = [manifest["golden"]["file"]]
    for model in models.values():
        referenced += list(model["files"].values())  # a format that failed has no file
        variants = model.get("variants", {})
        if not isinstance(variants, dict):
            raise ValueError("a model's 'variants' must map precisions to their files")
        referenced += [v["file"] for v in variants.values() if "file" in v]
    for name in referenced:
        if name not in files:
            raise ValueError(f"{name!r} is used but not listed (and hash-checked) under 'files'")
    signature = manifest_signature(manifest)
    if ("discriminator" in models) != bool(signature.discriminator_inputs):
        raise ValueError("the signature's discriminator inputs do not match the models")
    batches = manifest["golden"]["batches"]
    if not batches or not all(isinstance(b, int) and 0 < b <= 1 << 16 for b in batches):
        raise ValueError("'golden.batches' must be a list of positive ints")
    for tolerance in [*manifest["tolerances"].values(), *manifest.get("precisions", {}).values()]:
        float(tolerance["atol"]), float(tolerance["rtol"])


def manifest_signature(manifest: dict) -> Signature:
    """How the exported models are called. Exports made before models could take several inputs
    record only z_shape and image_shape: one noise input, and D on the image."""
    if "signature" in manifest:
        return Signature.from_dict(manifest["signature"])
    legacy = {
        "generator_inputs": [{"kind": "noise", "name": "z", "shape": manifest["z_shape"]}],
        "discriminator_inputs": [IMAGE] if "discriminator" in manifest["models"] else [],
        "image_shape": manifest["image_shape"],
    }
    return Signature.from_dict(legacy)


def effective_budget(manifest: dict, precision: str, default: Budget) -> Budget:
    """A variant's parity budget: the toolkit's, tightened (never loosened) by the manifest's."""
    given = manifest.get("precisions", {}).get(precision, {})
    limits = {"atol": default.atol, "rtol": default.rtol}
    return Budget(default.error_stat, **_tightened(given, limits))


def effective_tolerances(manifest: dict, defaults: dict) -> dict:
    """The toolkit's tolerances; a manifest may only tighten them, never loosen."""
    return {
        device: type(default)(**_tightened(manifest.get("tolerances", {}).get(device, {}), vars(default)))
        for device, default in defaults.items()
    }


def _tightened(given: dict, limits: dict) -> dict:
    """Each limit, or the manifest's value for it where that is a finite number >= 0 and smaller."""
    values = {}
    for key, limit in limits.items():
        value = given.get(key, limit)
        ok = isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
        values[key] = min(value, limit) if ok else limit
    return values
