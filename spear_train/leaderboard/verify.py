"""Verification of a :class:`~spear_train.leaderboard.schema.Result` by replaying its episodes.

:func:`verify_result` accepts a result only when

1. its env id is registered here and its env version is the version this process runs;
2. its env kwargs are the registered ones (plus, optionally, allow-listed scalar keys such as ``split``);
3. its data fingerprint equals the one of the env built here;
4. every episode, replayed action by action in a fresh deterministic env, gives the recorded rewards and
   end flags (and the recorded ``won`` flag);
5. the claimed metrics equal the metrics recomputed from the replays.

Anything else raises :class:`Rejection`, whose ``reason`` is a stable machine code and whose
``message``/``details`` say exactly what differed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import gymnasium as gym

from spear_envs.core import EpisodeRecord, ReplayResult, replay
from spear_train.leaderboard.schema import Metrics, Result, compute_metrics, metrics_equal

#: Extra env kwargs a result may set beyond the registered ones (scalar values only).
DEFAULT_ALLOWED_EXTRA_KWARGS: tuple[str, ...] = ("split",)
MAX_DETAILS = 20


class Rejection(Exception):
    """A result was refused. ``reason``: machine code; ``message``: one line; ``details``: specifics."""

    def __init__(self, reason: str, message: str, details: Iterable[str] = ()):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = list(details)[:MAX_DETAILS]

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "reason": self.reason, "details": self.details}


@dataclass
class Verification:
    """What a successful verification established."""

    content_hash: str
    metrics: Metrics
    episodes: int
    env_version: str


def verify_result(result: Result, *, allowed_extra_kwargs: Iterable[str] = DEFAULT_ALLOWED_EXTRA_KWARGS) -> Verification:
    """Replay every episode of ``result`` and check its claims; raises :class:`Rejection` on any difference."""
    env_id, kwargs = result.env.id, result.env.kwargs
    if env_id not in gym.registry:
        raise Rejection("unknown_env", f"unknown env id {env_id!r}: this server does not have it registered")
    _check_kwargs(env_id, kwargs, set(allowed_extra_kwargs))
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any constructor failure is the submission's kwargs' fault
        raise Rejection("bad_env_kwargs", f"could not build {env_id} with kwargs {kwargs}: {exc}") from None
    try:
        current = str(getattr(env.unwrapped, "env_version", ""))
        if result.env.version != current:
            raise Rejection(
                "unknown_env_version",
                f"{env_id} version {result.env.version!r} is not the version this server runs ({current!r}); "
                "re-run your evaluation with the current spear-bench",
            )
        fingerprint = json.loads(json.dumps(getattr(env.unwrapped, "data_fingerprint", lambda: {})()))
        if result.env.data_fingerprint != fingerprint:
            raise Rejection(
                "data_fingerprint_mismatch",
                f"the result's data fingerprint differs from this server's data for {env_id}",
                [f"claimed {result.env.data_fingerprint}", f"server {fingerprint}"],
            )
        outcomes: dict[int, list[tuple[bool, float]]] = {}
        mismatches: list[str] = []
        for run in result.runs:
            outcomes[run.seed] = []
            for i, episode in enumerate(run.episodes):
                record = episode.to_record()
                where = f"seed {run.seed}, episode {i} (reset seed {record.seed})"
                try:
                    again = replay(record, env)
                except Exception as exc:  # noqa: BLE001 - e.g. an over-long action the env refuses
                    raise Rejection("replay_error", f"{where}: the env refused the replay: "
                                                    f"{type(exc).__name__}: {exc}") from None
                problem = _first_difference(record, again)
                if problem:
                    mismatches.append(f"{where}: {problem}")
                outcomes[run.seed].append((bool(again.final_info.get("won", False)), sum(again.rewards)))
        if mismatches:
            raise Rejection("replay_mismatch",
                            f"{len(mismatches)} episode(s) do not replay to the recorded rewards", mismatches)
    finally:
        env.close()
    recomputed = compute_metrics(outcomes)
    diffs = metrics_equal(result.metrics, recomputed)
    if diffs:
        raise Rejection("metrics_mismatch", "the claimed metrics differ from those recomputed by replay", diffs)
    return Verification(result.content_hash(), recomputed, sum(len(r.episodes) for r in result.runs), current)


def _check_kwargs(env_id: str, kwargs: dict[str, Any], allowed_extra: set[str]) -> None:
    registered = dict(gym.spec(env_id).kwargs or {})
    problems = [f"{k}={kwargs.get(k, '<missing>')!r} (registered: {v!r})"
                for k, v in registered.items() if kwargs.get(k, v) != v]
    for k, v in kwargs.items():
        if k in registered:
            continue
        if k not in allowed_extra:
            problems.append(f"{k!r} is not an accepted env kwarg (accepted extras: {sorted(allowed_extra)})")
        elif not isinstance(v, (str, int, float, bool)):
            problems.append(f"{k!r} must be a scalar, got {type(v).__name__}")
    if problems:
        raise Rejection("env_kwargs_not_allowed", f"env kwargs differ from the benchmark's {env_id} (the registered "
                        "kwargs plus a split: what `spear-bench eval --scale paper` plays)", problems)


def _first_difference(record: EpisodeRecord, again: ReplayResult) -> str:
    """Where the replay departs from the record, in words ('' when it does not)."""
    for k, step in enumerate(record.steps):
        if k >= len(again.rewards):
            return f"the env ended the episode after step {k - 1}, but the record goes on to step {len(record.steps) - 1}"
        if abs(again.rewards[k] - step.reward) > 1e-9:
            return f"step {k} reward: recorded {step.reward!r}, env gave {again.rewards[k]!r}"
        if (again.terminated[k], again.truncated[k]) != (step.terminated, step.truncated):
            return (f"step {k} end flags: recorded terminated={step.terminated} truncated={step.truncated}, "
                    f"env gave terminated={again.terminated[k]} truncated={again.truncated[k]}")
    claimed_won = record.final_info.get("won")
    if claimed_won is not None and bool(claimed_won) != bool(again.final_info.get("won", False)):
        return f"won: recorded {claimed_won!r}, env gave {again.final_info.get('won', False)!r}"
    return ""
