"""Every command, every option: a bad value or a usage mistake is one line with exit 2, never a
traceback; `--help` explains."""

from __future__ import annotations

import sys

import pytest
from helpers import gan, runner

from gan.cli import app, main


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


def test_usage_errors_are_one_line(capsys, monkeypatch):
    for argv in (["gan", "train", "--epochs", "x"], ["gan", "nonsense"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("command", ["train", "export", "verify", "sample", "eval", "bench", "bench compare"])
def test_help_explains(command):
    result = gan(*command.split(), "--help")
    assert result.exit_code == 0 and "Usage:" in result.output
    if command == "train":
        assert "--resume" in result.output and "Ctrl-C" in result.output
    if command == "bench":
        assert "compare" in result.output and "backends" in result.output


def test_bench_backends_lists_every_backend_and_what_it_can_do():
    from gan.export.backends import NAMES

    result = gan("bench", "backends")
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in NAMES)
    assert "parity on" in result.output and "bench runs it on" in result.output
