"""The exception types for errors a user can cause.

The CLI turns each into a one-line message: exit code 2 for a GanError, 3 for an
EnvironmentMissing (what was asked for needs something this machine lacks). Anything else is a
bug and keeps its traceback.
"""


class GanError(Exception):
    """A problem with the user's input, files or machine, explained in one line."""


class EnvironmentMissing(GanError):
    """What was asked for needs a device or library that this machine does not have (a CUDA
    device, onnxruntime-gpu): nothing is wrong with the input, so CI can tell it apart (exit 3)."""


def where_raised(error: BaseException) -> str:
    """ " (at my_gan.py:42 in forward)": the deepest frame of `error`'s traceback that is the
    user's own code, not torch's, a library's, Python's or this toolkit's; "" when there is none."""
    import sys
    import traceback
    from pathlib import Path

    ignored = {Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p}
    toolkit = Path(__file__).resolve().parent
    repo = toolkit.parent  # gan/, export/ and bench/ in a source checkout
    own = (toolkit, repo / "export", repo / "bench")
    found = ""
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename)
        if not path.is_absolute() or frame.filename.startswith("<"):
            continue
        resolved = path.resolve()
        if any(resolved.is_relative_to(p) for p in (*ignored, *own)) or "site-packages" in resolved.parts:
            continue
        found = f" (at {path.name}:{frame.lineno} in {frame.name})"
    return found


def debugging() -> bool:
    """GAN_DEBUG=1 (or `gan --debug`): user errors show the traceback they came from."""
    import os

    return os.environ.get("GAN_DEBUG", "") not in ("", "0")
