"""The one exception type that reaches the user as a one-line message and exit status 2."""


class UserError(Exception):
    """Bad input from the user (file, argument, data). The CLI prints ``str(err)`` and exits 2."""
