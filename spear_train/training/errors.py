"""The training package's error type, in a module of its own so every training module can import it."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """A run cannot start or continue (bad model, env, or run folder); the message says why."""
