"""Seed derivation shared by the loop and the rollout side of training."""

from __future__ import annotations


def derive_seed(*parts: int) -> int:
    """A 31-bit seed from integers (stable across processes, unlike ``hash``).

    ``v ← (v · 1,000,003 + p + 0x9E3779B9) mod (2^61 − 1)`` for each part ``p``, from ``v = 0x345678``;
    the result is ``v mod (2^31 − 1)``.
    """
    value = 0x345678
    for p in parts:
        value = (value * 1_000_003 + int(p) + 0x9E3779B9) % (2**61 - 1)
    return value % (2**31 - 1)
