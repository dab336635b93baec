"""Export dirs travel between people: a manifest names only plain, regular, listed, hash-checked
files inside its dir, may only tighten tolerances, and no mutation of it (or of a checkpoint or a
bench report) causes a traceback, a hang, or a read outside its dir."""

from __future__ import annotations

import io
import json
import os
import random
import shutil

import pytest
import safetensors.torch
from helpers import assert_user_error, copy_export, deadline, gan, rewrite_manifest

from gan.bench.results import BenchResults
from gan.errors import GanError
from gan.export.golden import load_golden
from gan.export.manifest import effective_tolerances, manifest_signature, read_manifest
from gan.export.parity import DEFAULT_TOLERANCES
from gan.runs.checkpoint import load_checkpoint


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/hostname", "/dev/zero", "a/../../x", ""])
def test_manifest_names_outside_the_dir_are_refused(exported_run, tmp_path, name):
    export = copy_export(exported_run, tmp_path)
    rewrite_manifest(export, lambda m: m["files"].__setitem__(name, "0" * 64))
    assert_user_error(gan("verify", export), "is not a plain name inside the export dir")


def test_links_devices_and_fifos_are_refused_before_they_are_opened(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    (export / "golden.npz").unlink()
    os.mkfifo(export / "golden.npz")  # opening it would hang: it must be refused first
    with deadline(20):
        assert_user_error(gan("verify", export), "is not a regular file (a link or a device); refused")
        (export / "golden.npz").unlink()
        (export / "golden.npz").symlink_to("/dev/zero")
        assert_user_error(gan("verify", export), "is not a regular file")


def test_every_file_that_is_loaded_must_be_listed(exported_run, tmp_path):
    export = copy_export(exported_run, tmp_path)
    shutil.copy(export / "generator.onnx", export / "other.onnx")
    rewrite_manifest(export, lambda m: m["models"]["generator"]["files"].__setitem__("onnx", "other.onnx"))
    assert_user_error(
        gan("sample", export, "--backend", "onnxruntime"), "'other.onnx' is used but not listed"
    )


def test_a_manifest_may_tighten_tolerances_but_never_loosen_them():
    loose = effective_tolerances(
        {"tolerances": {"cpu": {"atol": 1e9, "rtol": float("nan")}}}, DEFAULT_TOLERANCES
    )
    assert loose == DEFAULT_TOLERANCES
    tight = effective_tolerances({"tolerances": {"cpu": {"atol": 1e-9, "rtol": 1e-9}}}, DEFAULT_TOLERANCES)
    assert (tight["cpu"].atol, tight["cpu"].rtol) == (1e-9, 1e-9)


def _mutations(value, rng: random.Random):
    """Yields copies of a JSON value with one field replaced, removed or retyped."""
    replacements = [
        None,
        -1,
        0,
        1e308,
        float("nan"),
        "",
        "../../secret.txt",
        "/etc/hostname",
        [],
        {},
        True,
        "x" * 300,
    ]
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, key))
        elif isinstance(node, list):
            for index, child in enumerate(node[:3]):
                walk(child, (*path, index))

    walk(value, ())
    while True:
        path = rng.choice(paths[1:])
        copy = json.loads(json.dumps(value))
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = rng.choice(replacements)
        yield copy


class ReadSpy:
    """Every path opened for reading: by open() and io.open() (which Path.read_text uses), and by
    the safetensors reader, which opens files natively."""

    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        real_open, real_safe_open = io.open, safetensors.torch.safe_open

        def spy_open(file, *args, **kwargs):
            self.paths.append(str(file))
            return real_open(file, *args, **kwargs)

        def spy_safe_open(file, *args, **kwargs):
            self.paths.append(str(file))
            return real_safe_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", spy_open)
        monkeypatch.setattr(io, "open", spy_open)
        monkeypatch.setattr(safetensors.torch, "safe_open", spy_safe_open)


def test_fuzzed_manifests_checkpoints_and_reports(exported_run, tmp_path, monkeypatch):
    rng = random.Random(0)
    export, run = copy_export(exported_run, tmp_path / "e"), tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("export"))
    (tmp_path / "secret.txt").write_text("do not read")
    (tmp_path / "e" / "secret.txt").write_text("do not read")
    manifest = json.loads((export / "manifest.json").read_text())
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    checkpoint.pop("fixed_noise")  # large and uniform; its shape is checked on resume
    row = {"workload": "forward G", "backend": "eager", "device": "cpu", "batch_size": 64, "status": "ok"}
    report = {"environment": {"device_name": "cpu"}, "config": {"device": "cpu"}, "results": [row]}
    row["median_ms"] = 1.0

    def open_export():  # everything verify opens before it builds a runtime session
        checked = read_manifest(export)
        load_golden(export / checked["golden"]["file"], manifest_signature(checked))
        effective_tolerances(checked, DEFAULT_TOLERANCES)

    cases = [
        (export / "manifest.json", manifest, open_export),
        (run / "checkpoint.json", checkpoint, lambda: load_checkpoint(run)),
        (tmp_path / "bench.json", report, lambda: BenchResults.load(tmp_path / "bench.json")),
    ]
    spy = ReadSpy(monkeypatch)
    for path, original, load in cases:
        mutations = _mutations(original, rng)
        for _ in range(60):
            mutated = next(mutations)
            if path.name == "checkpoint.json":
                mutated["fixed_noise"] = [[0.0] * 100] * 64
            path.write_text(json.dumps(mutated))
            with deadline(30):  # a hang fails this test instead of stalling the run
                try:
                    load()
                except GanError:
                    pass
        path.write_text(json.dumps(original))
    # The spies saw the reads they exist to watch...
    assert any(p.endswith("manifest.json") for p in spy.paths)
    assert any(p.endswith("golden.npz") for p in spy.paths)
    assert any(p.endswith(".safetensors") for p in spy.paths)
    # ...and none outside the dirs.
    assert not [p for p in spy.paths if "secret" in p or p.startswith("/etc")]
