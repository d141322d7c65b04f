"""The ``spear-bench`` command line. Each subcommand lives in its own ``*_cmd.py`` module."""

import argparse


class CliError(Exception):
    """A user-facing error: printed as ``spear-bench: error: <message>`` with exit status 2.

    Defined here (not in ``main.py``) so it is one class even when ``main`` runs as ``__main__``.
    """


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to each option's help unless the help already names its default; options
    that default to ``None`` or ``False`` (unset, or a switch) get nothing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text.lower()
                or action.default in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


class RawDefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsHelpFormatter):
    """:class:`DefaultsHelpFormatter` that keeps the description's and epilog's line breaks."""


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every subparser below it a defaults-showing formatter (keeping raw text where
    the parser asked for it)."""
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = RawDefaultsHelpFormatter if raw else DefaultsHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                show_defaults(child)
