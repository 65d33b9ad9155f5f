"""Errors the user can fix (bad suite, data or arguments): the CLI prints them as one line, exit code 2."""


class InputError(Exception):
    """Bad input; the message names the file, the key path or the value to fix."""
