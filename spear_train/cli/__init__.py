"""The ``spear-bench`` command line. Each subcommand lives in its own ``*_cmd.py`` module."""


class CliError(Exception):
    """A user-facing error: printed as ``spear-bench: error: <message>`` with exit status 2.

    Defined here (not in ``main.py``) so it is one class even when ``main`` runs as ``__main__``.
    """
