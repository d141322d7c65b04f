"""A minimal TextEnv used to test the contract machinery itself (not registered in the package)."""

from __future__ import annotations

from typing import Any

from spear_envs.core import TextEnv

WORDS = ["apple", "banana", "cherry", "damson"]


class GuessWordEnv(TextEnv):
    """Guess the secret word; reward 1 on success. Admissible actions: ``guess <word>``."""

    env_version = "test-1"

    def __init__(self, max_steps: int = 5, **kwargs: Any):
        super().__init__(max_steps=max_steps, **kwargs)
        self._secret = ""

    def _info(self, won: bool, valid: bool) -> dict[str, Any]:
        return {
            "task": "guess the secret fruit",
            "task_id": f"guess-{self._secret}",
            "admissible_actions": [f"guess {w}" for w in WORDS],
            "won": won,
            "action_valid": valid,
        }

    def _reset(self, seed, options):
        self._secret = WORDS[int(self.np_random.integers(len(WORDS)))]
        return "A fruit is hidden.", self._info(False, True)

    def _step(self, action):
        valid = action in [f"guess {w}" for w in WORDS]
        won = action == f"guess {self._secret}"
        obs = "Correct!" if won else ("Wrong." if valid else "Nothing happens.")
        return obs, 1.0 if won else 0.0, won, self._info(won, valid)
