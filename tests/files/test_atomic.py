"""Writes are atomic: a failed one (a full disk, a dir in the way, a path nothing can create) is one
line and leaves the old file."""

from __future__ import annotations

import errno
import os

import pytest
from helpers import assert_user_error, gan

from gan.errors import GanError
from gan.files.atomic import write_text


def test_a_full_disk_is_one_line_and_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    target.write_text("old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GanError, match=r"no space left on the device writing .*config.json; nothing"):
        write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_unwritable_outputs_are_one_line(trained_run, tmp_path):
    assert_user_error(
        gan("sample", trained_run, "--backend", "eager", "--out", tmp_path), "it is a directory"
    )
    long_name = tmp_path / ("x" * 251 + ".png")
    result = gan("sample", trained_run, "--backend", "eager", "--out", long_name, "-n", "1")
    assert result.exit_code == 0 and long_name.exists()  # legal, and written
    assert_user_error(gan("bench", "--json", tmp_path, "--quick"), "it is a directory")
