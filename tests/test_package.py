"""The house: one import path per module, layers that only look down, no package folder that holds
most of the code, no symlinks, and a wheel that installs and works without the checkout."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from helpers import REPO

# Where each package lives in the repository, and its layer: a module imports only from its own
# layer or lower ones. The CLI (and `python -m gan`) sits on top.
PACKAGE_DIRS = {"gan": REPO / "gan", "gan.export": REPO / "export", "gan.bench": REPO / "bench"}
LAYERS = {"core": 0, "gan.export": 1, "gan.bench": 2, "gan.cli": 3}


def _modules() -> dict[str, Path]:
    modules = {}
    for package, root in PACKAGE_DIRS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            name = ".".join([package, *parts]).removesuffix(".__init__")
            modules[name] = path
    return modules


def _layer(module: str) -> int:
    if module == "gan.__main__":
        return LAYERS["gan.cli"]
    return next((n for prefix, n in LAYERS.items() if module.startswith(prefix)), LAYERS["core"])


def _imports(path: Path) -> list[str]:
    """Every module `path` imports, at the top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_module_imports_from_a_layer_above_it():
    modules = _modules()
    assert {"gan.export.backends", "gan.bench.runner", "gan.cli", "gan.train.loop"} <= modules.keys()
    upward = [
        f"{module} imports {name}"
        for module, path in modules.items()
        for name in _imports(path)
        if name.split(".")[0] == "gan" and _layer(name) > _layer(module)
    ]
    assert upward == []


def test_nothing_imports_a_top_level_export_bench_or_cli():
    found = [
        f"{module} imports {name}"
        for module, path in _modules().items()
        for name in _imports(path)
        if name.split(".")[0] in ("export", "bench", "cli")
    ]
    assert found == []


def test_no_package_folder_holds_more_than_a_third_of_the_code():
    lines: dict[str, int] = {}
    for path in _modules().values():
        folder = str(path.parent.relative_to(REPO))
        lines[folder] = lines.get(folder, 0) + len(path.read_text().splitlines())
    total = sum(lines.values())
    largest = max(lines, key=lines.get)
    assert lines[largest] / total < 0.35, (largest, lines[largest], total)


def test_no_symlink_is_tracked():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(["git", "ls-files", "-s"], cwd=REPO, capture_output=True, text=True, check=True)
    assert [line for line in listing.stdout.splitlines() if line.startswith("120000")] == []


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A wheel of this checkout (not editable) in a fresh venv, whose other packages come from the
    test's own environment so that nothing is downloaded."""
    tmp = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run = {"check": True, "capture_output": True, "text": True, "timeout": 300}
    # From a copy of the tracked files: setuptools builds in the source tree.
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, **run).stdout.split()
    for name in tracked:
        (tmp / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp / "src" / name)
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp, tmp / "src"], **run)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], **run)
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run
    ).stdout.strip()
    # A path line, not a site dir: the checkout's editable finder in it is never run.
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = tmp.glob("gan_toolkit-*.whl")
    subprocess.run([*pip, "--python", venv / "bin" / "python", "install", "--no-deps", wheel], **run)
    return venv


@pytest.mark.slow  # builds a wheel and a venv: ~25 s
def test_the_wheel_installs_runs_and_cannot_be_shadowed(wheel_venv, tmp_path, data_dir):
    """From a dir holding a user's own export.py, bench.py and cli.py: `gan --help` runs, the
    toolkit has no top-level module of those names, and train, export and verify work."""
    for name in ("export", "bench", "cli"):
        (tmp_path / f"{name}.py").write_text("raise RuntimeError('the user module was imported')\n")
    env = {**os.environ, "GAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    run = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True, "timeout": 300}
    result = subprocess.run([wheel_venv / "bin" / "gan", "--help"], **run)
    assert result.returncode == 0 and "Usage: gan" in result.stdout, result.stderr
    script = textwrap.dedent(
        """
        import importlib.machinery, os, sys
        installed = [p for p in sys.path if p not in ("", os.getcwd())]
        for name in ("export", "bench", "cli"):  # only the user's files here answer to these names
            print(name, "->", importlib.machinery.PathFinder.find_spec(name, installed))
        import gan.export, gan.bench, gan.cli
        print("installed at", gan.__file__)
        from gan.cli import app
        from typer.testing import CliRunner
        runner = CliRunner()
        for args in (
            ["train", "--limit", "64", "--epochs", "1", "--no-compile", "--gemm", "aten", "--out", "run"],
            ["export", "run", "--exporter", "torchscript"],
            ["verify", "run/export"],
        ):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            print(args[0], "ok")
        """
    )
    result = subprocess.run([wheel_venv / "bin" / "python", "-c", script], **run)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    lines = result.stdout.splitlines()
    assert [line for line in lines if "->" in line] == ["export -> None", "bench -> None", "cli -> None"]
    assert f"installed at {wheel_venv}" in result.stdout
    assert [line for line in lines if line.endswith(" ok")] == ["train ok", "export ok", "verify ok"]
