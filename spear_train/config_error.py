"""The one error (and the one warning) of every config in spear_train: run configs, algorithm configs,
``--set`` items and YAML files.

It lives below both :mod:`spear_train.algorithms` and :mod:`spear_train.training` so that each can raise
it and every caller (the CLI, :func:`spear_train.train`) catches one class.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A config key is unknown or its value is invalid.

    The message names the key, the bad value and what is allowed. Where one key is at fault ``key``
    names it (``"clip_ratio_high"``, ``"steps"``) and ``value`` holds the bad value; both are ``None``
    for errors about a whole file or item (an unreadable YAML file, a ``--set`` item without ``=``).
    """

    def __init__(self, message: str, key: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.key, self.value = key, value

    @classmethod
    def bad_value(cls, owner: str, key: str, value: Any, reason: str) -> "ConfigError":
        """``<owner>.<key> = <value!r>: <reason>``, e.g. ``AlgorithmConfig.gamma = 1.5: must be in [0, 1]``."""
        return cls(f"{owner}.{key} = {value!r}: {reason}", key=key, value=value)


class ConfigWarning(UserWarning):
    """A config that runs, but probably not as meant (e.g. a schedule longer than the run); the message
    names the keys and their values. ``spear-bench`` prints it as ``spear-bench: warning: ...``."""
