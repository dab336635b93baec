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
