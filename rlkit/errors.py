"""The one exception type for user mistakes: the CLI prints its message and exits with code 2."""


class UserError(Exception):
    """A problem with what the user asked for (a name, a value, a file), not a bug in rlkit.

    The message names what was wrong and what is allowed; it is printed without a traceback.
    """


class RunStopped(Exception):
    """A run stopped itself on purpose (e.g. NaN in the losses); the message says why and where
    the last good checkpoint is."""
