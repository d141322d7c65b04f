"""The built-in expert sources: which expert plays which env's generated tasks (issue 12 item 3).

Each source builds its env with ``gym.make`` for the ``train`` or ``eval`` split of generated tasks and
wraps the env's own expert. A source is registered only when its env package provides the expert, so
``spear-bench sft --env ENV`` says clearly when an env is not usable yet.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

from spear_train.sft.data import ExpertSource, register_expert_source


def _try_import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
