"""Errors the CLI turns into one line on stderr and exit code 2."""


class CliError(Exception):
    """A one-line message for the user; exit code 2."""
