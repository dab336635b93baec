"""What many tests use: the CLI runner and its one-line-error check, fresh models, and ways to
plant a change in a copy of an export dir. Imported as `helpers` (pytest puts tests/ on the path)."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from gan.cli import app
from gan.files.hashing import sha256_file

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "my_gan.py"
CPU = torch.device("cpu")
QUIET = Console(quiet=True)
runner = CliRunner()

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none"
)
without_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def gan(*args, data_dir=None):
    """`gan ARGS` in this process; `data_dir` becomes $GAN_DATA_DIR."""
    env = {"GAN_DATA_DIR": str(data_dir)} if data_dir else {}
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_user_error(result, message: str, exit_code: int = 2):
    """The command failed as a user's mistake should: exit 2 (3 for a machine that lacks what was
    asked for), one line naming it, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert message in text, text


def fresh_models(name: str = "mlp", seed: int = 0):
    """(Architecture, G, D) of a built-in or user architecture, freshly initialised from `seed`."""
    from gan.models.spec import load_architecture

    architecture, _ = load_architecture(name)
    return (architecture, *architecture.build(seed))


def copy_export(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a run's export dir that a test may plant faults in."""
    copy = tmp_path / "export"
    shutil.copytree(run_dir / "export", copy)
    return copy


def rewrite_manifest(export_dir: Path, change) -> None:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    change(manifest)
    (export_dir / "manifest.json").write_text(json.dumps(manifest))


def relist(export_dir: Path, name: str) -> None:
    """After a test changed `name` on purpose: its new sha256 in the manifest, so only the change
    itself is tested, not the hash check."""
    rewrite_manifest(export_dir, lambda m: m["files"].__setitem__(name, sha256_file(export_dir / name)))


def plant_golden(export_dir: Path, change) -> None:
    """Changes the golden outputs that verify compares against (and re-lists their hash)."""
    golden = dict(np.load(export_dir / "golden.npz"))
    change(golden)
    with open(export_dir / "golden.npz", "wb") as f:
        np.savez(f, **golden)
    relist(export_dir, "golden.npz")


def scale_onnx_initializer(export_dir: Path, model: str, name: str, factor: float = 1.5) -> None:
    """Plants a fault in one layer: one weight of the exported ONNX graph, scaled."""
    import onnx
    from onnx import numpy_helper

    path = export_dir / f"{model}.onnx"
    graph = onnx.load(str(path))
    (initializer,) = [i for i in graph.graph.initializer if i.name == name]
    initializer.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(initializer) * factor, name))
    onnx.save(graph, str(path))
    relist(export_dir, path.name)


def save_weights(arch_spec: str, directory: Path, seed: int = 3) -> tuple[Path, Path | None]:
    """What a user's training script leaves behind: state_dicts in .pth files."""
    from gan.models.spec import load_architecture

    architecture, _ = load_architecture(arch_spec)
    generator, discriminator = architecture.build(seed)
    g_path = directory / "netG.pth"
    torch.save(generator.state_dict(), g_path)
    if discriminator is None:
        return g_path, None
    d_path = directory / "netD.pth"
    torch.save(discriminator.state_dict(), d_path)
    return g_path, d_path


class Deadline(Exception):
    """A test took longer than its deadline: it hung (see `deadline`)."""


@contextlib.contextmanager
def deadline(seconds: int):
    """Fails the test that hangs, not the whole run: SIGALRM raises Deadline after `seconds`."""

    def expire(signum, frame):
        raise Deadline(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# The devices a benchmark suite runs on: the CPU, and CUDA where there is one.
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.cuda, requires_cuda]),
]


def synchronized(run, device: str):
    """pytest-benchmark times with a host clock, so on CUDA each call must wait for its kernels."""
    if device != "cuda":
        return run

    def call():
        out = run()
        torch.cuda.synchronize()
        return out

    return call


def gan_step(generator, discriminator, **options):
    """The GAN step with the seed's Adam settings (lr 2e-4, betas 0.5/0.999) for both models."""
    from gan.train.adam import make_optimizer
    from gan.train.step import GanStep

    betas = (0.5, 0.999)
    opt_g, opt_d = make_optimizer(generator, 2e-4, betas), make_optimizer(discriminator, 2e-4, betas)
    return GanStep(generator, discriminator, opt_g, opt_d, **options)


def image_folder(root: Path, data_dir: Path, per_class: int, classes: int = 10, size: int = 32) -> Path:
    """A user's folder of colour images: Fashion-MNIST pictures as size x size RGB PNGs, one
    subfolder per class (named after it), as torchvision's ImageFolder lays them out."""
    from PIL import Image

    from gan.data import load_dataset

    data = load_dataset("fashion-mnist", data_dir, sources=("cache",))
    for label in range(classes):
        folder = root / data.classes[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate((data.train_labels == label).nonzero()[:per_class, 0].tolist()):
            picture = Image.fromarray(data.train_images[i].numpy()).convert("RGB").resize((size, size))
            picture.save(folder / f"{k:05d}.png")
    return root


def torchrun(*args, data_dir: Path, nproc: int = 2, **popen):
    """`gan train ARGS` under torchrun: `nproc` CPU processes with gloo, one thread each."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    command += ["-m", "gan", "train", *map(str, args)]
    env = {**os.environ, "GAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    if popen:
        return subprocess.Popen(command, env=env, **popen)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def checked_backends(device: torch.device = CPU, formats: list[str] | None = None):
    """The BackendSpecs parity checks on `device` for an export of `formats` (by default the
    suite's, $GAN_EXPORT_FORMATS): a backend whose format was not exported is not planned."""
    import os

    from gan.export.backends import parity_backends

    formats = formats or os.environ["GAN_EXPORT_FORMATS"].split(",")
    return [spec for spec in parity_backends(device) if spec.reads is None or spec.reads in formats]
