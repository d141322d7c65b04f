"""Text spaces for multi-turn text environments.

Gymnasium's :class:`~gymnasium.spaces.Text` only accepts characters from a fixed charset. Environment
observations (web pages, tool output, real catalog data) contain arbitrary Unicode, so the contract
uses :class:`UnicodeText`: a ``Text`` whose ``contains`` accepts any ``str`` within the length limits,
while ``sample`` still draws from printable ASCII (enough for fuzzing an action parser).
"""

from __future__ import annotations

import string
from typing import Any

from gymnasium.spaces import Text

PRINTABLE = "".join(c for c in string.printable if c not in "\x0b\x0c\r")


class UnicodeText(Text):
    """A ``gymnasium.spaces.Text`` that accepts any Unicode string of ``min_length..max_length`` chars."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None):
        super().__init__(max_length=max_length, min_length=min_length, charset=PRINTABLE, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and other.min_length == self.min_length
            and other.max_length == self.max_length
        )
