"""The ``spear-bench`` command line. Each subcommand lives in its own ``*_cmd.py`` module."""
