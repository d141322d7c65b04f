"""Entry point of the ``spear-bench`` console script.

Each subcommand is a module in this package exposing ``register(subparsers)``, which adds its parser
and sets ``func(args) -> int``. Heavy imports happen inside ``func`` so ``--help`` stays instant.
To add a subcommand, write ``<name>_cmd.py`` and list it in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from spear_train.cli import CliError, show_defaults
from spear_train.config_error import ConfigWarning

COMMAND_MODULES = [
    "spear_train.cli.envs_cmd",
    "spear_train.cli.webshop_cmd",
    "spear_train.cli.sft_cmd",
    "spear_train.cli.leaderboard_cmd",
    "spear_train.cli.submit_cmd",
    "spear_train.cli.run_cmd",
    "spear_train.cli.eval_cmd",
    "spear_train.cli.compare_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spear-bench",
        description="Train and benchmark LLM agents with RL (GRPO, GiGPO, Dr.BoT, SPEAR) on ALFWorld, "
        "WebShop and tool-using math. Every subcommand has its own --help.",
    )
    from spear_train import __version__

    parser.add_argument("--version", action="version", version=f"spear-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    show_defaults(parser)
    return parser


def silence_library_bars() -> None:
    """Hide transformers' own tqdm bars ("Loading weights", "Writing model shards"): the commands show
    their own progress. The environment variable reaches transformers imported later and child
    processes (torchrun ranks, Ray workers); ``HF_HUB_DISABLE_PROGRESS_BARS=0`` keeps the bars."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] != "0" and "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def print_config_warnings() -> None:
    """Show each :class:`ConfigWarning` (a config that runs, but probably not as meant) as one line
    ``spear-bench: warning: ...`` on stderr, every time, once per launch (torchrun ranks other than 0
    stay silent: they resolve the same config); other warnings as Python shows them."""
    python_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ConfigWarning):
            if os.environ.get("RANK", "0") == "0":
                print(f"spear-bench: warning: {message}", file=sys.stderr)
        else:
            python_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", ConfigWarning)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    silence_library_bars()
    with warnings.catch_warnings():  # restores Python's warning display when the command returns
        print_config_warnings()
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"spear-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spear-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
