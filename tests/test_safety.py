"""Issue 9's guarantees: --force, untrusted export dirs, locks, staleness, atomic swaps, and one
line with exit 2 (never a traceback) for every bad input. Each test plants what it must survive."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gan.cli import app
from gan.errors import GanError
from gan.export.exporter import _swap_in
from gan.export.golden import load_golden
from gan.export.manifest import effective_tolerances, read_manifest
from gan.export.parity import DEFAULT_TOLERANCES
from gan.hashing import sha256_file
from gan.locking import exclusive
from tests.test_cli_train import assert_user_error

runner = CliRunner()


def gan(*args, data_dir=None):
    env = {"GAN_DATA_DIR": str(data_dir)} if data_dir else {}
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("safety") / "run"
    result = gan("train", "--limit", "128", "--epochs", "1", "--no-compile", "--out", path, data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert gan("export", path, "--exporter", "torchscript").exit_code == 0
    return path


def copy_export(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(run_dir / "export", copy)
    return copy


def rewrite_manifest(export_dir: Path, change) -> None:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    change(manifest)
    (export_dir / "manifest.json").write_text(json.dumps(manifest))


# 1. --force deletes only what the toolkit wrote ---------------------------------------------------


def test_force_refuses_a_dir_gan_did_not_write(tmp_path, data_dir):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.c").write_text("int main;")
    (project / "config.json").write_text("{}")
    result = gan("train", "--out", project, "--force", "--limit", "64", "--epochs", "1", data_dir=data_dir)
    assert_user_error(result, "--force will not delete anything in")
    assert (project / "src" / "main.c").read_text() == "int main;" and (project / "config.json").exists()
    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "app"}')
    (web / "app.js").write_text("x")
    assert_user_error(gan("export", tmp_path / "nowhere", "--out", web, "--force"), "does not exist")
    from gan.export.exporter import check_export_target

    with pytest.raises(GanError, match="not an export dir written by gan"):
        check_export_target(web, force=True)
    assert (web / "app.js").exists()


def test_force_replaces_only_the_toolkits_files(run_dir, tmp_path, data_dir):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "NOTES.md").write_text("mine")
    (run / "checkpoint-epoch001 copy.safetensors").write_bytes(b"my copy")
    (run / "export" / "README.txt").write_text("mine")
    # An export dir holding a foreign file is not deleted, so the whole --force is refused.
    result = gan(
        "train", "--out", run, "--force", "--limit", "64", "--epochs", "1", "--no-compile", data_dir=data_dir
    )
    assert_user_error(result, "holds files gan did not write (README.txt)")
    (run / "export" / "README.txt").unlink()
    result = gan(
        "train", "--out", run, "--force", "--limit", "64", "--epochs", "1", "--no-compile", data_dir=data_dir
    )
    assert result.exit_code == 0, result.output
    assert (run / "NOTES.md").read_text() == "mine"
    assert (run / "checkpoint-epoch001 copy.safetensors").read_bytes() == b"my copy"
    assert not (run / "export").exists()  # the old export went with the old run
    assert json.loads((run / "config.json").read_text())["limit"] == 64
    assert oct((run / "checkpoint-epoch001.safetensors").stat().st_mode & 0o777) == "0o644"


def test_force_checks_every_input_before_deleting(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    before = sorted(p.name for p in run.iterdir())
    (tmp_path / "not-a-dir").write_text("")
    result = gan("train", "--out", run, "--force", "--data-dir", tmp_path / "not-a-dir", "--limit", "64")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert sorted(p.name for p in run.iterdir()) == before


@pytest.mark.parametrize("target", [".", "/", "~", ".."])
def test_force_never_targets_root_home_or_the_current_dir(target, tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    out = str(Path(target).expanduser())
    assert_user_error(gan("train", "--out", out, "--force"), "which the toolkit will never write into")
    assert_user_error(
        gan("import", out, "--arch", "mlp", "--generator", "x.pth", "--force"), "never write into"
    )


# 2. Manifest paths are confined and all hash-checked, before anything is opened ---------------------


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/hostname", "/dev/zero", "a/../../x", ""])
def test_manifest_names_outside_the_dir_are_refused(run_dir, tmp_path, name):
    export = copy_export(run_dir, tmp_path)
    rewrite_manifest(export, lambda m: m["files"].__setitem__(name, "0" * 64))
    assert_user_error(gan("verify", export), "is not a plain name inside the export dir")


def test_links_devices_and_fifos_are_refused_before_they_are_opened(run_dir, tmp_path):
    export = copy_export(run_dir, tmp_path)
    (export / "golden.npz").unlink()
    os.mkfifo(export / "golden.npz")  # opening it would hang: it must be refused first
    signal.alarm(20)
    try:
        assert_user_error(gan("verify", export), "is not a regular file (a link or a device); refused")
        (export / "golden.npz").unlink()
        (export / "golden.npz").symlink_to("/dev/zero")
        assert_user_error(gan("verify", export), "is not a regular file")
    finally:
        signal.alarm(0)


def test_every_file_that_is_loaded_must_be_listed(run_dir, tmp_path):
    export = copy_export(run_dir, tmp_path)
    shutil.copy(export / "generator.onnx", export / "other.onnx")
    rewrite_manifest(export, lambda m: m["models"]["generator"]["files"].__setitem__("onnx", "other.onnx"))
    assert_user_error(
        gan("sample", export, "--backend", "onnxruntime"), "'other.onnx' is used but not listed"
    )


# 3. Trust -------------------------------------------------------------------------------------------


def test_untrusted_never_loads_torchscript(run_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.jit.load was called")

    monkeypatch.setattr(torch.jit, "load", refuse)
    result = gan("verify", run_dir / "export", "--untrusted")
    assert result.exit_code == 0, result.output
    assert "torchscript" not in result.output and "onnxruntime" in result.output
    assert_user_error(
        gan("sample", run_dir, "--backend", "torchscript", "--untrusted"), "--untrusted refuses"
    )


def test_a_manifest_may_tighten_tolerances_but_never_loosen_them():
    loose = effective_tolerances(
        {"tolerances": {"cpu": {"atol": 1e9, "rtol": float("nan")}}}, DEFAULT_TOLERANCES
    )
    assert loose == DEFAULT_TOLERANCES
    tight = effective_tolerances({"tolerances": {"cpu": {"atol": 1e-9, "rtol": 1e-9}}}, DEFAULT_TOLERANCES)
    assert (tight["cpu"].atol, tight["cpu"].rtol) == (1e-9, 1e-9)


def test_nan_golden_outputs_are_a_mismatch(run_dir, tmp_path):
    export = copy_export(run_dir, tmp_path)
    golden = dict(np.load(export / "golden.npz"))
    golden["generator.output"] = np.full_like(golden["generator.output"], np.nan)
    with open(export / "golden.npz", "wb") as f:
        np.savez(f, **golden)
    rewrite_manifest(
        export, lambda m: m["files"].__setitem__("golden.npz", sha256_file(export / "golden.npz"))
    )
    result = gan("verify", export)
    assert result.exit_code == 1 and "comparisons FAILED" in result.output


# 4. Locks and staleness -----------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder(run_dir, tmp_path, data_dir):
    out = tmp_path / "busy"
    with exclusive(out):
        result = gan("train", "--out", out, "--limit", "64", "--epochs", "1", data_dir=data_dir)
        assert_user_error(result, f"is in use by another gan process (pid {os.getpid()})")
        with exclusive(run_dir / "export"):
            assert_user_error(gan("export", run_dir, "--force"), "is in use by another gan process")


def test_a_stale_export_is_refused(run_dir, tmp_path, data_dir):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    assert gan("train", "--resume", run, "--epochs", "2", "--no-compile", data_dir=data_dir).exit_code == 0
    assert_user_error(gan("sample", run, "--backend", "onnxruntime"), "export is stale")
    assert_user_error(gan("eval", run, "--backend", "onnxruntime", data_dir=data_dir), "export is stale")


# 5. The export swap --------------------------------------------------------------------------------


def test_swap_keeps_a_complete_export_and_cleans_dead_leftovers(run_dir, tmp_path):
    out = tmp_path / "export"
    staging = tmp_path / ".export.partial-1"
    shutil.copytree(run_dir / "export", out)
    shutil.copytree(run_dir / "export", staging)
    (staging / "marker").write_text("new")
    _swap_in(staging, out)
    assert (out / "marker").exists() and not staging.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # the old one went last
    dead = run_dir / ".export.partial-999999"
    dead.mkdir()
    assert gan("export", run_dir, "--force", "--exporter", "torchscript").exit_code == 0
    assert not dead.exists()


# 6. Correctness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exporter", "opset"), [("dynamo", "5"), ("dynamo", "99"), ("torchscript", "-1")])
def test_opsets_the_exporter_cannot_write_are_refused(run_dir, exporter, opset):
    assert_user_error(
        gan("export", run_dir, "--force", "--exporter", exporter, "--opset", opset), "cannot be written by"
    )


def test_resume_refuses_options_it_would_ignore(run_dir):
    assert_user_error(gan("train", "--resume", run_dir, "--lr", "0.1", "--epochs", "5"), "--lr cannot change")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epoch", -1, "epoch must be a whole number >= 0"),
        ("epoch", 1.5, "epoch must be a whole number >= 0"),
        ("config", [], "config must be an object"),
        ("tensors", "../../x.safetensors", "must name a checkpoint-epochNNN.safetensors file"),
        ("rng_state", "AAAA", "RNG state"),
        ("fixed_noise", [[0.0]], "fixed noise"),
    ],
)
def test_edited_checkpoint_fields_are_refused_on_load(run_dir, tmp_path, field, value, message):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    meta = json.loads((run / "checkpoint.json").read_text())
    meta[field] = value
    (run / "checkpoint.json").write_text(json.dumps(meta))
    assert_user_error(gan("train", "--resume", run, "--epochs", "3", "--no-compile"), message)


def test_a_batch_larger_than_the_data_is_refused(tmp_path, data_dir):
    result = gan("train", "--limit", "100", "--batch-size", "512", "--out", tmp_path / "r", data_dir=data_dir)
    assert_user_error(result, "--batch-size 512 is larger than the 100 training images")


# 7 and 8. One line, exit 2, for every bad value of every option (new options are covered as added)


def _all_options():
    from typer.main import get_command

    stack = [((), get_command(app))]
    while stack:
        path, command = stack.pop()
        for name, sub in (getattr(command, "commands", None) or {}).items():
            stack.append(((*path, name), sub))
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "is_flag", False):
                # typer >= 0.2x names the type through bare_type(); click through .type
                kind = (
                    param.bare_type()
                    if callable(getattr(param, "bare_type", None))
                    else type(param.type).__name__
                )
                yield path, param.opts[0], "path" in str(kind).lower()


BAD_VALUES = ["-1", "nan", "inf", "1e999", "abc", "99999999999999999999999"]


def test_every_option_of_every_command_refuses_bad_values_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    not_data = tmp_path / "not-a-dir"
    not_data.write_text("")  # the data dir is a file: nothing can start a download or a run
    options = sorted(set(_all_options()))
    assert len(options) > 30, options
    for path, option, is_path in options:
        if path[-1] == "train":
            args = [*path] + (["--out", str(tmp_path / "o")] if option != "--out" else [])
        elif path[-1] == "compare":
            args = [*path, str(tmp_path / "a.json"), str(tmp_path / "b.json")]
        else:
            args = [*path, str(tmp_path / "missing")]
        # A path option gets a dir where a file belongs and a place nothing can be written; the
        # data dir gets a file, since any real dir would start a download.
        values = [*BAD_VALUES, str(tmp_path)] if not is_path else [str(tmp_path), "/proc/none/x"]
        for value in values if option != "--data-dir" else [str(not_data)]:
            result = runner.invoke(app, [*args, option, value], env={"GAN_DATA_DIR": str(not_data)})
            assert result.exit_code == 2, (path, option, value, result.output)
            assert "Traceback" not in result.output, (path, option, value)


def test_usage_errors_are_one_line(capsys):
    from gan.cli import main

    for argv in (["gan", "train", "--epochs", "x"], ["gan", "nonsense"]):
        with pytest.raises(SystemExit) as exit_:
            import sys

            old, sys.argv = sys.argv, argv
            try:
                main()
            finally:
                sys.argv = old
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1, err


def test_ctrl_c_in_the_first_epoch_says_no_checkpoint_exists(tmp_path, data_dir, monkeypatch):
    from gan.step import GanStep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GanStep, "eager", interrupted)
    result = gan("train", "--limit", "64", "--no-compile", "--out", tmp_path / "r", data_dir=data_dir)
    assert result.exit_code == 130
    assert "no epoch had completed, so there is no checkpoint to resume" in " ".join(result.output.split())


def test_unwritable_outputs_are_one_line(run_dir, tmp_path):
    assert_user_error(gan("sample", run_dir, "--out", tmp_path), "it is a directory")
    long_name = tmp_path / ("x" * 251 + ".png")
    assert gan("sample", run_dir, "--out", long_name, "-n", "1").exit_code == 0  # legal, and written
    assert_user_error(gan("bench", "--json", tmp_path, "--quick"), "it is a directory")
    assert_user_error(
        gan("bench", "compare", run_dir / "config.json", run_dir / "config.json"), "not a gan bench"
    )


def test_report_on_malformed_inputs_is_one_line(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "eval.json").write_text('{"generated": 1}')
    assert_user_error(gan("report", run), "is malformed")
    (run / "eval.json").unlink()
    onnx_file = run / "export" / "generator.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    assert_user_error(gan("report", run), "generator.onnx changed since export")
    (run / "config.json").write_text("[")
    assert_user_error(gan("report", run), "config.json is unreadable")


def test_a_corrupt_classifier_cache_is_retrained(tmp_path, monkeypatch):
    from gan import classifier
    from gan.data.datasets import Dataset

    trained = []
    monkeypatch.setattr(
        classifier,
        "train_classifier",
        lambda data, device: (trained.append(1), classifier.Classifier(), 0.5)[1:],
    )
    weights, meta = classifier.cache_paths(tmp_path, "fashion-mnist")
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"x")
    meta.write_text("{not json")
    empty = torch.zeros(0, 28, 28, dtype=torch.uint8)
    data = Dataset("fashion-mnist", (), empty, empty, empty, empty, "test")
    classifier.load_or_train_classifier(data, tmp_path, torch.device("cpu"))
    assert trained == [1] and json.loads(meta.read_text())["test_accuracy"] == 0.5


# Fuzz: mutated manifests, checkpoints and bench reports never cause a traceback, a hang, or a read
# outside their dir.


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


def test_fuzzed_manifests_checkpoints_and_reports(run_dir, tmp_path):
    from gan.bench.report import load_json
    from gan.checkpoint import load_checkpoint

    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    opened = []
    real_open = open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    rng = random.Random(0)
    export, run = copy_export(run_dir, tmp_path / "e"), tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("export"))
    manifest = json.loads((export / "manifest.json").read_text())
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    checkpoint.pop("fixed_noise")  # large and uniform; its shape is checked on resume (above)
    report = {"environment": {"device_name": "cpu"}, "config": {"device": "cpu"}, "results": [
        {"workload": "forward G", "backend": "eager", "device": "cpu", "batch_size": 64, "status": "ok",
         "median_ms": 1.0}]}  # fmt: skip
    (tmp_path / "e" / "secret.txt").write_text("do not read")

    def open_export():  # everything verify opens before it builds a runtime session
        checked = read_manifest(export)
        load_golden(export / checked["golden"]["file"])
        effective_tolerances(checked, DEFAULT_TOLERANCES)

    cases = [
        (export / "manifest.json", manifest, open_export),
        (run / "checkpoint.json", checkpoint, lambda: load_checkpoint(run)),
        (tmp_path / "bench.json", report, lambda: load_json(tmp_path / "bench.json")),
    ]
    import builtins

    for path, original, load in cases:
        mutations = _mutations(original, rng)
        for _ in range(60):
            mutated = next(mutations)
            if path.name == "checkpoint.json":
                mutated["fixed_noise"] = [[0.0] * 100] * 64
            path.write_text(json.dumps(mutated))
            signal.alarm(30)  # a hang fails the test instead of stalling it
            builtins.open = spy
            try:
                load()
            except GanError:
                pass
            finally:
                builtins.open = real_open
                signal.alarm(0)
        path.write_text(json.dumps(original))
    assert not any("secret" in p or p.startswith("/etc") for p in opened), [
        p for p in opened if "secret" in p
    ]


def test_a_full_disk_is_one_line_and_leaves_the_old_file(tmp_path, monkeypatch):
    import errno

    from gan.atomic import write_text

    target = tmp_path / "config.json"
    target.write_text("old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GanError, match=r"cannot write .*config.json: No space left on device"):
        write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_an_output_of_another_shape_is_a_mismatch_exit_1(run_dir, tmp_path):
    export = copy_export(run_dir, tmp_path)
    golden = dict(np.load(export / "golden.npz"))
    golden["generator.output"] = golden["generator.output"][:, :, :14, :]
    with open(export / "golden.npz", "wb") as f:
        np.savez(f, **golden)
    rewrite_manifest(
        export, lambda m: m["files"].__setitem__("golden.npz", sha256_file(export / "golden.npz"))
    )
    result = gan("verify", export)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "output shape" in " ".join(result.output.split())
