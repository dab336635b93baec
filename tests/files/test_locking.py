"""One process owns a run or export dir at a time; the second is refused, naming the holder."""

from __future__ import annotations

import os

from helpers import assert_user_error, gan

from gan.files.locking import exclusive


def test_a_second_writer_is_refused_naming_the_holder(exported_run, tmp_path, data_dir):
    out = tmp_path / "busy"
    with exclusive(out):
        result = gan("train", "--out", out, "--limit", "64", "--epochs", "1", data_dir=data_dir)
        assert_user_error(result, f"is in use by another gan process (pid {os.getpid()})")
        with exclusive(exported_run / "export"):
            assert_user_error(gan("export", exported_run, "--force"), "is in use by another gan process")
