"""Finding an `Architecture` from what a user types after `--arch`.

A spec is one of:
- a built-in name (`mlp`, `dcgan`);
- a name that an installed package registers under the entry-point group `gan_toolkit.architectures`;
- `path/to/file.py:NAME` or `package.module:NAME`, where NAME is an `Architecture` or a
  zero-argument function returning one.

Importing a spec runs the user's Python code: the toolkit does it only for specs the user typed or
that a run dir of theirs recorded, never for one read from an export dir's manifest.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from gan.errors import GanError
from gan.files.hashing import sha256_file
from gan.models.architecture import Architecture
from gan.models.builtins import BUILTIN_ARCHITECTURES

ENTRY_POINT_GROUP = "gan_toolkit.architectures"


@dataclass(frozen=True)
class ArchitectureRef:
    """Where an architecture came from: a spec that loads it again, and its file's sha256."""

    spec: str
    sha256: str | None = None

    def to_dict(self) -> dict:
        return {"spec": self.spec, "sha256": self.sha256}


def load_architecture(spec: str) -> tuple[Architecture, ArchitectureRef]:
    """The Architecture a spec names, and a reference that finds it again from any directory."""
    if not isinstance(spec, str) or not spec.strip():
        raise GanError("--arch needs a name or a spec such as my_gan.py:ARCH")
    spec = spec.strip()
    if ":" not in spec:
        return _named(spec)
    location, _, attribute = spec.rpartition(":")
    if not attribute.isidentifier():
        raise GanError(f"--arch {spec}: {attribute!r} after ':' is not a Python name")
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location).expanduser().resolve()
        module = _import_file(path, spec)
        ref = ArchitectureRef(f"{path}:{attribute}", sha256_file(path))
    else:
        module = _import_module(location, spec)
        file = getattr(module, "__file__", None)
        ref = ArchitectureRef(spec, sha256_file(Path(file)) if file else None)
    if not hasattr(module, attribute):
        raise GanError(f"--arch {spec}: {location} has no attribute {attribute!r}")
    return _as_architecture(getattr(module, attribute), spec), ref


def architecture_names() -> list[str]:
    return [*BUILTIN_ARCHITECTURES, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))]


def _named(name: str) -> tuple[Architecture, ArchitectureRef]:
    if name in BUILTIN_ARCHITECTURES:
        return BUILTIN_ARCHITECTURES[name](), ArchitectureRef(name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                target = ep.load()
            except Exception as error:
                raise GanError(
                    f"--arch {name}: the entry point {ep.value} raised {type(error).__name__}: {error}"
                ) from None
            return _as_architecture(target, name), ArchitectureRef(name)
    raise GanError(
        f"unknown architecture {name!r}; choose one of {', '.join(architecture_names())}, "
        "or give a spec: path/to/file.py:NAME or package.module:NAME"
    )


def _import_file(path: Path, spec: str):
    if not path.is_file():
        raise GanError(f"--arch {spec}: {path} does not exist")
    # A stable, unique module name per file, so two user files called model.py do not collide.
    name = f"gan_user_architecture_{sha256_file(path)[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise GanError(f"--arch {spec}: {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(module_spec)
    # The user's file may import its neighbours, as it would when run as a script.
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise GanError(
            f"--arch {spec}: importing {path.name} raised {type(error).__name__}: {error}"
        ) from None
    return module


def _import_module(location: str, spec: str):
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as error:
        raise GanError(f"--arch {spec}: no module named {error.name!r}") from None
    except Exception as error:
        raise GanError(
            f"--arch {spec}: importing {location} raised {type(error).__name__}: {error}"
        ) from None


def _as_architecture(target, spec: str) -> Architecture:
    if not isinstance(target, Architecture) and callable(target) and not isinstance(target, type):
        try:
            target = target()
        except GanError:
            raise
        except Exception as error:
            raise GanError(f"--arch {spec}: calling it raised {type(error).__name__}: {error}") from None
    if not isinstance(target, Architecture):
        raise GanError(
            f"--arch {spec} is a {type(target).__name__}, not a gan.Architecture "
            "(or a zero-argument function returning one)"
        )
    return target
