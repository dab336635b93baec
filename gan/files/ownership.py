"""What this toolkit wrote, so that `--force` replaces only that.

Run dirs and export dirs carry a marker of their own (a `format` key in config.json,
checkpoint.json or manifest.json), not just a common file name. `--force` removes only the files
the toolkit writes; anything else a user put there survives. Targets that can never be a run or
export dir (`/`, the home dir, the current dir or any of its parents) are refused outright.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from gan.errors import GanError

RUN_FORMAT = "gan-toolkit-run"
EXPORT_FORMAT = "gan-toolkit-export"
# Every file `gan train`, `import`, `eval`, `report` and the demo's bench write into a run dir.
RUN_FILES = re.compile(
    r"(config\.json|checkpoint\.json|checkpoint-epoch\d{3,}\.safetensors|real_samples\.png"
    r"|progress\.gif|losses\.csv|losses\.png|fcd\.csv|fcd\.png|eval\.json|report\.html|report\.md"
    r"|bench\.json|bench\.png|samples/epoch_\d{3,}\.png)"
)
EXPORT_EXTRA_FILES = ("manifest.json", "parity_grid.png", "verify_grid.png")


def refuse_unsafe_target(path: Path, option: str = "--out") -> None:
    """A dir the toolkit may create or replace: never /, $HOME, the current dir or its parents."""
    resolved = Path(path).resolve()
    cwd = Path.cwd().resolve()
    if (
        resolved == Path(resolved.anchor)
        or resolved == Path.home().resolve()
        or resolved in (cwd, *cwd.parents)
    ):
        raise GanError(
            f"{option} {path} is {resolved}, which the toolkit will never write into; pick a new dir"
        )
    if Path(path).is_symlink():
        raise GanError(f"{option} {path} is a symbolic link; give the real directory instead")


def _read_format(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text())
        return value.get("format") if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def is_run_dir(path: Path) -> bool:
    return RUN_FORMAT in (_read_format(path / "config.json"), _read_format(path / "checkpoint.json"))


def is_export_dir(path: Path) -> bool:
    return _read_format(path / "manifest.json") == EXPORT_FORMAT


def require_run_dir(run_dir: Path) -> None:
    """--force may replace `run_dir` only if gan wrote it."""
    if not is_run_dir(run_dir):
        raise GanError(
            f"--force will not delete anything in {run_dir}: it is not a run dir written by gan "
            f"(no config.json or checkpoint.json marked {RUN_FORMAT!r})"
        )


def require_export_dir(export_dir: Path) -> None:
    """--force may replace `export_dir` only if gan wrote it and nothing else is in it."""
    if not is_export_dir(export_dir):
        raise GanError(
            f"--force will not delete {export_dir}: it is not an export dir written by gan "
            f"(no manifest.json marked {EXPORT_FORMAT!r})"
        )
    if foreign := export_foreign_files(export_dir):
        names = ", ".join(foreign[:3])
        raise GanError(f"--force will not delete {export_dir}: it holds files gan did not write ({names})")


# What an existing dir of each kind may be replaced with, and what to tell someone who did not ask.
_IF_IT_EXISTS = {
    "run dir": "use --resume {path} to continue it, --force to replace it, or --out to pick another",
    "export dir": "pass --force to replace it or --out to pick another",
}


def check_target(path: Path, force: bool, kind: str) -> None:
    """`path` may become a new `kind` ("run dir" or "export dir"): it is absent or empty, or
    --force is given and gan wrote it (nothing else, for an export dir)."""
    refuse_unsafe_target(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise GanError(f"{path} exists and is not a directory")
    if not any(path.iterdir()):
        return
    if not force:
        raise GanError(f"{kind} {path} already exists; " + _IF_IT_EXISTS[kind].format(path=path))
    if kind == "run dir":
        require_run_dir(path)
    else:
        require_export_dir(path)


def prepare_run_dir(run_dir: Path, force: bool) -> None:
    """After every input was checked: removes the toolkit's files of a replaced run (only those)."""
    check_target(run_dir, force, "run dir")
    if force and run_dir.is_dir() and any(run_dir.iterdir()):
        clear_run_dir(run_dir)


def clear_run_dir(run_dir: Path) -> None:
    """Removes the toolkit's files from a marked run dir (and its export dir); keeps the rest."""
    require_run_dir(run_dir)
    if (run_dir / "export").is_dir() and is_export_dir(run_dir / "export"):
        require_export_dir(run_dir / "export")
        shutil.rmtree(run_dir / "export")
    for path in sorted(run_dir.rglob("*"), reverse=True):
        relative = path.relative_to(run_dir).as_posix()
        if path.is_file() and not path.is_symlink() and RUN_FILES.fullmatch(relative):
            path.unlink()
    for directory in (run_dir / "samples", run_dir / "export"):
        if directory.is_dir() and not directory.is_symlink() and not any(directory.iterdir()):
            directory.rmdir()


def export_foreign_files(export_dir: Path) -> list[str]:
    """Files in an export dir that its manifest does not account for."""
    try:
        listed = set(json.loads((export_dir / "manifest.json").read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    ours = listed | set(EXPORT_EXTRA_FILES)
    return sorted(p.name for p in export_dir.iterdir() if p.name not in ours or not p.is_file())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned(directory: Path) -> None:
    """Leftovers of an export that was killed: `.NAME.partial-PID` / `.NAME.old-PID` dirs whose
    process is gone."""
    pattern = re.compile(rf"\.{re.escape(directory.name)}\.(partial|old)-(\d+)")
    if not directory.parent.is_dir():
        return
    for sibling in directory.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if match and sibling.is_dir() and not sibling.is_symlink() and not pid_alive(int(match.group(2))):
            shutil.rmtree(sibling, ignore_errors=True)
