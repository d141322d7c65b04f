"""Agent-side parsing of model output into an env action ("projection").

Also stated in docs/rollouts.md, 'Action parsing (format validity)'.

The env never sees the raw model output: the agent side extracts the action and decides *format
validity*, which drives the 0.1 invalid-action penalty. This is distinct from *admissibility*, which the
env reports as ``info["action_valid"]``.

Rules, in order:

1. Lower-case the output.
2. Find the first ``<action>`` and the first ``</action>`` in the lower-cased text.
   If either is missing, the action is invalid and the env receives the last ``fallback_chars``
   characters of the lower-cased output (30 for ALFWorld, 20 for WebShop). Otherwise the action is the
   stripped text between the two tags (empty when ``</action>`` comes before ``<action>``, as in the
   reference), and it is valid so far.
3. Validity is forced to ``False`` if the *raw* output lacks ``<think>`` or ``</think>`` (case-sensitive,
   anywhere), or contains a CJK character (U+4E00 to U+9FFF).
"""

from __future__ import annotations

import re
from typing import NamedTuple

ALFWORLD_FALLBACK_CHARS = 30
WEBSHOP_FALLBACK_CHARS = 20

_CJK = re.compile(r"[\u4e00-\u9fff]")
_ACTION_OPEN, _ACTION_CLOSE = "<action>", "</action>"


class ParsedAction(NamedTuple):
    """``action``: the string the env receives; ``valid``: format validity."""

    action: str
    valid: bool


def parse_action(output: str, fallback_chars: int) -> ParsedAction:
    """Project one model output to ``(action, valid)`` following the rules above.

    Args:
        output: the decoded model response (special tokens already skipped).
        fallback_chars: how many trailing characters of the lower-cased output the env receives when
            the action tags are missing.
    """
    if not isinstance(output, str):
        raise TypeError(f"model output must be a str, got {type(output).__name__}")
    if fallback_chars < 1:
        raise ValueError(f"fallback_chars must be >= 1, got {fallback_chars}")
    lowered = output.lower()
    start, end = lowered.find(_ACTION_OPEN), lowered.find(_ACTION_CLOSE)
    if start == -1 or end == -1:
        return ParsedAction(lowered[-fallback_chars:], False)
    action = lowered[start + len(_ACTION_OPEN):end].strip()
    valid = "<think>" in output and "</think>" in output and not _CJK.search(output)
    return ParsedAction(action, valid)
