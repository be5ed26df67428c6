"""Errors caused by what a user gave (a file, a folder, a setting), as opposed to bugs.

The command line prints these as one line without a traceback; a benchmark run records them as
the reason a sample failed and goes on.
"""


class InputError(ValueError):
    """Bad input, with a message that says what is wrong, where, and when possible how to fix it."""
