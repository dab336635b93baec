"""Each backend measured in a fresh process of its own, so that one runtime's arenas, caches and
thread pools neither show up in another's memory figures nor slow it down (an ONNX Runtime pool
that spins after its runs takes a core from the next backend's OpenMP region).

The processes are forked from a server (multiprocessing's forkserver) that has imported torch,
the parts of it that load programs and packages (torch.export, dynamo, inductor), ONNX Runtime
and the toolkit, once, and run nothing (OpenVINO is imported in its own processes, before their
baseline): each starts in milliseconds with the same imports, so its memory baseline is a bare
interpreter with those imports, and a backend's load_ms and rss_mb are its model's, not the
import of the Python code behind it (about 1.3 s and 160-200 MB for torch.export, AOTInductor
and torch.compile on a 2-core EPYC). A process that dies
(a runtime's native crash) or stops answering fails the row it was measuring, with the reason;
its later rows go on in a new process. A row still running when the bench's budget ends is
stopped and listed as skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Imported once in the fork server, so that every process starts with them (see above).
import onnxruntime  # noqa: F401
import torch
import torch._dynamo  # noqa: F401
import torch._export.serde.serialize  # noqa: F401
import torch._inductor.package  # noqa: F401

from gan.bench.footprint import MemoryProbe
from gan.bench.rows import BenchRow
from gan.bench.subject import Subject, SubjectSpec, open_subject
from gan.export.backends import backend_spec
from gan.models.calls import first_line

# Imported in the process that measures them, before its baseline, never in the fork server:
# importing OpenVINO starts a thread there, and a process forked while that thread holds a lock
# (a module's import lock, say) can wait on it forever.
CHILD_IMPORTS = {"openvino": "openvino"}  # backend family -> module

# A process that sends nothing for this long (a hung runtime) is stopped and its rows fail.
SILENT_LIMIT_S = 600.0


@dataclass(frozen=True)
class Job:
    """The rows one fresh process measures: one backend, in one precision, for one kind of
    workload (forward, train or server), at every batch. Each planned row is
    (index in the bench's plan, scenario, backend name, batch, precision)."""

    subject: SubjectSpec
    rows: Sequence[tuple[int, object, str, int, str]]
    deadline: float  # time.monotonic(): rows not finished by then are "skipped"
    budget_s: float | None


def run_jobs(jobs: Sequence[Job], on_row: Callable[[int, BenchRow | None, str], None]) -> None:
    """Runs each job in its own fresh process, one at a time (they would share the cores);
    `on_row(index, row, status)` hears of each row as it starts (row None) and ends. A process
    that dies fails the row it was measuring; the job's later rows go on in a new one."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    for job in jobs:
        rows = list(job.rows)
        while rows:  # each death takes one row with it, so this ends
            if time.monotonic() >= job.deadline:  # no process to start for rows with no time left
                _skip(rows, job, on_row)
                break
            rows = _run_one(context, dataclasses.replace(job, rows=rows), on_row)


def _run_one(context, job: Job, on_row) -> list:
    """One process through the job's rows; returns those still to measure after it died."""
    with tempfile.NamedTemporaryFile(prefix="gan-bench-", suffix=".log") as log:
        receive, send = context.Pipe(duplex=False)
        # A path, not a descriptor: the process is forked from the server, not from this one.
        process = context.Process(target=_child, args=(job, send, log.name), daemon=True)
        with _main_left_alone():
            process.start()
        send.close()
        pending = {row[0]: row for row in job.rows}
        running = None  # the row the process is measuring
        try:
            while pending:
                # The budget is wall-clock: a row still running when it ends is stopped.
                wait = min(SILENT_LIMIT_S, max(0.0, job.deadline - time.monotonic()))
                if not receive.poll(wait):
                    process.kill()
                    if time.monotonic() >= job.deadline:  # it, and the rows after it: skipped
                        # A process that never began a row says what it was doing instead.
                        why = None if running is not None else _last_line(log) or "no output"
                        _skip(list(pending.values()), job, on_row, why)
                        return []
                    raise _Stopped(f"it stopped answering for {SILENT_LIMIT_S:g} s and was stopped")
                try:
                    index, row, status = receive.recv()
                except EOFError:
                    process.join(5)
                    raise _Stopped(_death(process.exitcode, log)) from None
                if row is None:
                    running = index
                else:
                    pending.pop(index, None)
                on_row(index, row, status)
            return []
        except _Stopped as stopped:
            # Before any row started, the process could not open the export: every row fails.
            failed = [pending.pop(running)] if running in pending else list(pending.values())
            for index, scenario, backend, batch, precision in failed:
                reason = f"the process measuring {backend} died: {stopped}"
                on_row(index, _failed(scenario, backend, batch, precision, job, reason), "")
            return [] if running is None else list(pending.values())
        finally:
            receive.close()
            process.join(10)
            if process.is_alive():
                process.kill()


def _skip(rows: list, job: Job, on_row, still_starting: str | None = None) -> None:
    for index, scenario, backend, batch, precision in rows:
        row = scenario.skipped(backend_spec(backend), batch, precision, job.budget_s)
        if still_starting is not None:
            row.reason += f"; its process had not begun a row ({still_starting})"
        on_row(index, row, "")


@contextlib.contextmanager
def _main_left_alone():
    """multiprocessing re-runs the caller's main script in each new process (so that what it
    defines can be unpickled), which runs a script without an `if __name__ == "__main__"` guard
    again. A job needs nothing from it (its code is in this module, its model comes by spec), so
    the script is hidden while the process starts."""
    main = sys.modules["__main__"]
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    if "__file__" in saved:
        del main.__file__
    main.__spec__ = None
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


class _Stopped(Exception):
    pass


def _death(exitcode: int | None, log) -> str:
    """What killed the process, and the last line it wrote, if any."""
    if exitcode is not None and exitcode < 0:
        how = f"signal {signal.Signals(-exitcode).name}"
    else:
        how = f"exit code {exitcode}"
    last = _last_line(log)
    return how + (f" ({last})" if last else "")


def _last_line(log) -> str:
    """The last line the process wrote to its log, shortened; empty when it wrote none."""
    log.seek(0)
    lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else ""


def _child(job: Job, send, log_path: str) -> None:
    """In the fresh process: open the subject, take the memory baseline, run the rows."""
    # What runtimes print (warnings, native errors) goes to the log the parent reads on a crash.
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    torch.set_num_threads(job.subject.threads)
    try:
        subject = open_subject(job.subject)
    except Exception as error:  # the parent opened it a moment ago; the log says why this one could not
        raise SystemExit(f"could not open the export: {type(error).__name__}: {error}") from None
    for family in {row[2].split("-")[0] for row in job.rows} & CHILD_IMPORTS.keys():
        with contextlib.suppress(ImportError):  # an optional extra: its rows say it is missing
            importlib.import_module(CHILD_IMPORTS[family])
    if job.subject.device.type == "cuda":
        # The CUDA context (hundreds of MB of host memory, and its start-up) is the process's,
        # not the first model's to load: made before the baseline.
        torch.zeros(1, device=job.subject.device)
    subject.memory = MemoryProbe(job.subject.device)
    for index, scenario, backend, batch, precision in job.rows:
        send.send((index, None, f"{scenario.workload} / {backend} / batch {batch}"))
        send.send((index, _row(subject, job, scenario, backend, batch, precision), ""))
    send.close()


def _row(subject: Subject, job: Job, scenario, backend: str, batch: int, precision: str) -> BenchRow:
    spec = backend_spec(backend)
    if time.monotonic() >= job.deadline:
        return scenario.skipped(spec, batch, precision, job.budget_s)
    try:
        return scenario.run(subject, spec, batch, precision)
    except Exception as error:  # a scenario's own fault: this row fails, the process goes on
        reason = f"{type(error).__name__}: {first_line(error, 200)}"
        return _failed(scenario, backend, batch, precision, job, reason)


def _failed(scenario, backend: str, batch: int, precision: str, job: Job, reason: str) -> BenchRow:
    """The row, failed with `reason` (an error row has the shape of a skipped one, and a device)."""
    row = scenario.skipped(backend_spec(backend), batch, precision, None)
    row.status, row.reason, row.device = "error", reason, str(job.subject.device)
    return row
