"""One in-process ALFWorld text engine: the real ``textworld`` PDDL engine with ALFWorld's name demangling.

:class:`AlfredEngine` drives ``textworld.envs.PddlEnv`` (or its byte-identical fast variant,
:class:`~spear_envs.alfworld.fast_engine.FastPddlEnv`) directly, not through textworld's gym registry or
``AlfredTWEnv``: no subprocess, no file-based game lists, no RNG of theirs picks the game.

Randomness: upstream draws instance numbering ("mug 1" vs "mug 2", when ``shuffle_names``) from the
*global* ``random`` module. :func:`scoped_random` runs such code on a private ``random.Random`` state,
so a reset seed fully determines the text and the caller's global ``random`` is left untouched.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import textworld
from alfworld.agents.utils.misc import Demangler
from textworld.core import GameState
from textworld.envs.pddl import PddlEnv

from spear_envs.alfworld.fast_engine import FastPddlEnv

__all__ = ["AlfredEngine", "scoped_random"]


@contextmanager
def scoped_random(rng: random.Random) -> Iterator[None]:
    """Run a block whose calls to the global ``random`` module draw from ``rng`` instead.

    The global state is saved and restored, and ``rng`` advances by what the block drew. Not thread-safe
    (the global module is shared); envs in threads must not enter it concurrently.
    """
    saved = random.getstate()
    random.setstate(rng.getstate())
    try:
        yield
    finally:
        rng.setstate(random.getstate())
        random.setstate(saved)


class AlfredEngine:
    """The real ALFWorld text engine for one game at a time.

    Args:
        fast: use :class:`FastPddlEnv` (same transcripts, several times faster) instead of the stock engine.
        facts: include PDDL ``facts`` in each state (the handcoded expert needs them; costs time).
        planner: include ``policy_commands`` (a Fast Downward replan from the current state) in each
            state. To plan only when needed, leave it off and call :meth:`plan`.
    """

    def __init__(self, *, fast: bool = True, facts: bool = False, planner: bool = False):
        self.fast = fast
        infos = textworld.EnvInfos(admissible_commands=True, won=True, facts=facts, policy_commands=planner)
        self._env: PddlEnv = (FastPddlEnv if fast else PddlEnv)(infos)
        self._game: Mapping[str, Any] | None = None
        self.state: GameState | None = None

    @property
    def game(self) -> Mapping[str, Any] | None:
        return self._game

    def load(self, game: Mapping[str, Any]) -> None:
        """Load a ``game.tw-pddl`` dict (keys ``pddl_domain``, ``grammar``, ``pddl_problem``)."""
        if game is self._game:
            return
        with _keep_argv():
            self._env.load(game)
        self._game = game
        self.state = None

    def reset(self, shuffle_seed: int | None = None) -> GameState:
        """Start the loaded game. ``shuffle_seed`` shuffles instance numbers (upstream's domain
        randomisation) deterministically; ``None`` keeps upstream's sorted numbering."""
        if self._game is None:
            raise RuntimeError("AlfredEngine.reset() called before load()")
        self._demangle(shuffle_seed)
        with _keep_argv():
            self.state = self._env.reset()
        return self.state

    def step(self, command: str) -> GameState:
        """Apply a text command. Commands the engine does not list answer "Nothing happens."."""
        if self.state is None:
            raise RuntimeError("AlfredEngine.step() called before reset()")
        self.state, _, _ = self._env.step(command)
        return self.state

    def plan(self) -> list[str]:
        """The planner's command list from the current state (a Fast Downward replan; may be slow on
        large scenes). Empty when the goal is already reached or no plan exists."""
        if self.state is None:
            raise RuntimeError("AlfredEngine.plan() called before reset()")
        with _keep_argv():
            return list(self._env._pddl_state.replan(self._env._entity_infos))

    def display_name(self, pddl_id: str) -> str:
        """The name the text uses for a PDDL object id (for example ``"mug 2"``), after the last reset."""
        return self._env._entity_infos[pddl_id.lower()].name

    def _demangle(self, shuffle_seed: int | None) -> None:
        infos = self._env._entity_infos
        if shuffle_seed is None:
            demangler = Demangler(game_infos=infos, shuffle=False)
        else:
            with scoped_random(random.Random(shuffle_seed)):
                demangler = Demangler(game_infos=infos, shuffle=True)
        for info in infos.values():
            info.name = demangler.demangle_alfred_name(info.id)


@contextmanager
def _keep_argv() -> Iterator[None]:
    """Fast Downward's translator overwrites ``sys.argv``; put it back."""
    argv = list(sys.argv)
    try:
        yield
    finally:
        sys.argv[:] = argv
