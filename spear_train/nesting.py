"""Nesting depth of parsed JSON/YAML data: the one guard against documents built to exhaust a parser.

Used by the config-file reader (``spear_train.training.config_file``) and the leaderboard's request
checks (``spear_train.leaderboard.checks``). Iterative, so a hostile document cannot hit the recursion
limit while it is being measured.
"""

from __future__ import annotations

from typing import Any


def nesting_depth(value: Any, limit: int | None = None) -> int:
    """Depth of mappings and lists in ``value``: a scalar is 0, ``[]`` and ``{}`` are 1, ``{"a": [1]}`` is 2.

    With ``limit``, stops as soon as the depth exceeds it and returns a value ``> limit`` (the exact
    depth of a deeper document is not needed to refuse it, and not measuring it bounds the work).
    """
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth + 1)
        if limit is not None and deepest > limit:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest
