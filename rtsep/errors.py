"""Errors a user can act on: the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """A problem with the user's input (file, device, option, model), with a hint."""
