"""The command line's error for bad input."""


class UsageError(Exception):
    """A bad argument or a missing file: shown as one line, never as a traceback."""
