"""The one exception type for errors a user can cause.

The CLI turns it into a one-line message and exit code 2; anything else is a bug and keeps its
traceback.
"""


class GanError(Exception):
    """A problem with the user's input, files or machine, explained in one line."""
