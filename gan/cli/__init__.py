"""The `gan` command line: it parses, calls the library, and prints. No logic lives here.

One module per command group (train.py: data, train, import; export.py: export, sample;
verify.py: verify; evaluate.py: eval, report; bench.py: bench), sharing common.py's consoles and options.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gan.cli import bench, evaluate, export, train, verify
from gan.cli.common import err_console
from gan.console import silence_known_noise

app = typer.Typer(
    help="Train a PyTorch GAN, export it to TorchScript and ONNX, prove parity, and benchmark it.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


@app.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback behind an error (a model, a runtime or a file that failed); "
            "the same as GAN_DEBUG=1.",
        ),
    ] = False,
) -> None:
    """Train a PyTorch GAN, export it to TorchScript and ONNX, prove parity, and benchmark it."""
    # Read from the command's context where an error is shown (gan.cli.common.show_error).


data_app = typer.Typer(help="Fetch and cache the datasets.", no_args_is_help=True)
bench_app = typer.Typer(
    cls=bench.RunByDefault,
    help="Benchmark every runtime of an export (eager, TorchScript, ExportedProgram, AOTInductor, "
    "ONNX Runtime, OpenVINO, torch.compile, CUDA graphs): speed, load time, memory and file size, "
    "in a loop or under concurrent callers. "
    "`gan bench [EXPORT_DIR] [OPTIONS]` runs it (see `gan bench run --help`); "
    "`gan bench compare BASE.json NEW.json` compares two runs; `gan bench backends` lists the backends.",
)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")

data_app.command("fetch")(train.data_fetch)
app.command("train")(train.train)
app.command("import")(train.import_run)
app.command("export")(export.export)
app.command("verify")(verify.verify)
app.command("sample")(export.sample)
app.command("eval")(evaluate.evaluate)
app.command("report")(evaluate.report)
bench_app.command("run")(bench.run)
bench_app.command("compare")(bench.compare)
bench_app.command("backends")(bench.backends)


def main() -> None:
    """The console script: click's usage errors become one line and exit 2, like GanError."""
    try:
        from typer import _click as click  # recent typer vendors click
    except ImportError:
        import click

    silence_known_noise()
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="gan", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.NoArgsIsHelpError as error:
        print(error.ctx.get_help() if error.ctx else error.format_message())
        sys.exit(2)
    except click.exceptions.UsageError as error:
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        message = f"[bold red]error:[/] {error.format_message()}{where}"
        err_console.print(message, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("[yellow]interrupted")
        sys.exit(130)
    except typer.Exit as exit_:
        if exit_.exit_code == 130:
            err_console.print("[yellow]interrupted.[/] Files are written atomically: none is half-written.")
        sys.exit(exit_.exit_code)
