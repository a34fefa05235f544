"""User-facing errors.

A `LivrError` is a mistake in what the user gave us (an option, a file, a record). The CLI prints
its message as one paragraph and exits with status 2, without a traceback. Anything else is a bug
and keeps its traceback.
"""


class LivrError(Exception):
    """An error in user input: the message names the option, record or file, and the fix."""


class ConfigError(LivrError, ValueError):
    """An unknown or invalid option."""


class DataError(LivrError, ValueError):
    """A record or data folder that cannot be used."""
