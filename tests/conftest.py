"""Shared fixtures: the dataset cache, and the runs, exports and classifier that many tests read.

Each expensive fixture is built once per test run and shared by every pytest-xdist worker (a file
lock: the first worker builds, the others wait and reuse it). Tests read datasets from the cache
that `make data` fills; they never download.
"""

from __future__ import annotations

import fcntl
import importlib.abc
import importlib.machinery
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from helpers import CPU, QUIET, REPO

from gan.data.datasets import cache_paths

# Every module has one import path (gan.export, gan.bench, gan.cli); a top-level `export`,
# `bench` or `cli` import means something put the repository root on sys.path.
TOP_LEVEL = ("export", "bench", "cli")


class _TopLevelImports(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.seen: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if path is None and name in TOP_LEVEL and importlib.machinery.PathFinder.find_spec(name):
            self.seen.add(name)
        return None  # the import itself goes on as it would


# AOTInductor compiles every model it exports for 5-20 s on 2 cores: the suite exports TorchScript,
# ONNX and the ExportedProgram by default, as a CI may choose to, and the tests of the package
# (tests/export/test_aoti.py) ask for it by name.
os.environ.setdefault("GAN_EXPORT_FORMATS", "torchscript,onnx,exported-program")
# The export cache (ONNX files, AOTInductor packages) of the tests, never the user's: entries are
# named by the hash of what made them, so one left by an earlier run is as good as a new one; a
# test that needs a miss points GAN_CACHE_DIR at a directory of its own.
os.environ.setdefault("GAN_CACHE_DIR", str(REPO / ".pytest_cache" / "gan-cache"))

_watch = _TopLevelImports()
sys.meta_path.insert(0, _watch)

if worker_count := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    # Workers share the cores: one OpenMP team each, or every region waits for a busy core.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // worker_count))


@pytest.fixture(scope="session", autouse=True)
def _one_import_path():
    yield
    imported = _watch.seen | {name for name in TOP_LEVEL if name in sys.modules}
    if imported:
        pytest.fail(f"top-level module(s) {sorted(imported)} were imported; import gan.* instead")


@pytest.fixture(autouse=True)
def _keep_global_rng():
    """Library code must not touch the global RNG; restoring it keeps tests independent anyway."""
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("GAN_DATA_DIR") or REPO / "data")
    if not cache_paths(path, "fashion-mnist")[0].exists():
        pytest.fail(f"no fashion-mnist cache in {path}; run `make data` (tests never download)")
    return path


def build_once(tmp_path_factory, name: str, build) -> Path:
    """`build(path)` once per test run, whichever worker asks first; the rest wait for it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / f"{name}.done").exists():
            shutil.rmtree(target, ignore_errors=True)
            build(target)
            (root / f"{name}.done").touch()
    return target


def _train(arch: str, data_dir: Path, **overrides):
    from gan.train.config import TrainConfig
    from gan.train.loop import train

    config = TrainConfig(arch=arch, epochs=1, limit=256, compile=False, gemm="aten", **overrides)
    return lambda path: train(config, path, CPU, data_dir=data_dir, console=QUIET)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_dir) -> Path:
    """The seed's MLP after one epoch on 256 images. Read it; copy it to change it."""
    return build_once(tmp_path_factory, "trained-mlp", _train("mlp", data_dir))


@pytest.fixture(scope="session")
def dcgan_run(tmp_path_factory, data_dir) -> Path:
    """The DCGAN after one epoch on 256 images. Read it; copy it to change it."""
    return build_once(tmp_path_factory, "trained-dcgan", _train("dcgan", data_dir))


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory, trained_run) -> Path:
    """A copy of `trained_run` with its default export (dynamo) in run/export. Read it; copy it
    (helpers.copy_export) to change it."""
    from gan.export.exporter import export_run

    def build(path: Path) -> None:
        shutil.copytree(trained_run, path)
        assert export_run(path, console=QUIET).passed

    return build_once(tmp_path_factory, "exported-mlp", build)


@pytest.fixture(scope="session")
def user_dcgan_run(tmp_path_factory) -> Path:
    """A user's DCGAN (examples/my_gan.py:TINY_DCGAN64): its weights saved as a user's script
    would (weights/netG.pth, netD.pth), imported into run/ and exported (dynamo) into run/export.
    Read it; copy it to change it."""
    from helpers import EXAMPLE, gan, save_weights

    spec = f"{EXAMPLE}:TINY_DCGAN64"

    def build(path: Path) -> None:
        (path / "weights").mkdir(parents=True)
        g_path, d_path = save_weights(spec, path / "weights")
        args = ["--arch", spec, "--generator", g_path, "--discriminator", d_path]
        assert gan("import", path / "run", *args).exit_code == 0
        result = gan("export", path / "run")
        assert result.exit_code == 0, result.output

    return build_once(tmp_path_factory, "user-dcgan", build)


@pytest.fixture(scope="session")
def classifier(data_dir):
    """The fashion-mnist feature classifier FCD is measured with (the pinned one)."""
    from gan.data import load_dataset
    from gan.quality.classifier import load_or_train_classifier

    return load_or_train_classifier(
        load_dataset("fashion-mnist", data_dir, sources=("cache",)), data_dir, CPU
    )
