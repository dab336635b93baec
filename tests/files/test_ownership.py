"""--force replaces only what the toolkit wrote, checks every input before deleting anything,
and never targets /, $HOME or the current dir."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import assert_user_error, gan

from gan.errors import GanError
from gan.files.ownership import check_target


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
    with pytest.raises(GanError, match="not an export dir written by gan"):
        check_target(web, force=True, kind="export dir")
    assert (web / "app.js").exists()


def test_force_replaces_only_the_toolkits_files(exported_run, tmp_path, data_dir):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    (run / "NOTES.md").write_text("mine")
    (run / "checkpoint-epoch001 copy.safetensors").write_bytes(b"my copy")
    (run / "export" / "README.txt").write_text("mine")
    args = [
        "train",
        "--out",
        run,
        "--force",
        "--limit",
        "64",
        "--epochs",
        "1",
        "--no-compile",
        "--gemm",
        "aten",
    ]
    # An export dir holding a foreign file is not deleted, so the whole --force is refused.
    assert_user_error(gan(*args, data_dir=data_dir), "holds files gan did not write (README.txt)")
    (run / "export" / "README.txt").unlink()
    result = gan(*args, data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert (run / "NOTES.md").read_text() == "mine"
    assert (run / "checkpoint-epoch001 copy.safetensors").read_bytes() == b"my copy"
    assert not (run / "export").exists()  # the old export went with the old run
    assert json.loads((run / "config.json").read_text())["limit"] == 64
    assert oct((run / "checkpoint-epoch001.safetensors").stat().st_mode & 0o777) == "0o644"


def test_force_checks_every_input_before_deleting(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
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


def test_an_existing_export_dir_needs_force(exported_run):
    assert_user_error(gan("export", exported_run), "already exists; pass --force")
