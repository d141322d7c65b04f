"""Episode records and replay: what the leaderboard uses to verify a submitted result.

An :class:`EpisodeRecord` holds everything needed to re-run one episode in a deterministic env: the env
id and constructor kwargs, the reset seed and options, and per step the action taken and what the env
answered (reward, terminated, truncated). :func:`replay` re-runs it in a fresh env and returns what the
env answers now, so a verifier can compare.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym

RECORD_FORMAT_VERSION = 1


@dataclass
class StepRecord:
    action: str
    reward: float
    terminated: bool
    truncated: bool


@dataclass
class EpisodeRecord:
    """One recorded episode. JSON-serialisable with :meth:`to_dict` / :meth:`from_dict`."""

    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    env_version: str = ""
    final_info: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps]

    @property
    def rewards(self) -> list[float]:
        return [s.reward for s in self.steps]

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    def to_dict(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EpisodeRecord":
        """Build a record from parsed JSON; raises ``ValueError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"an episode record must be a JSON object, got {type(data).__name__}")
        fmt = data.get("format", RECORD_FORMAT_VERSION)
        if fmt != RECORD_FORMAT_VERSION:
            raise ValueError(f"unsupported episode record format {fmt!r} (expected {RECORD_FORMAT_VERSION})")
        try:
            steps_raw = data["steps"]
            if not isinstance(steps_raw, list):
                raise ValueError("'steps' must be a list")
            steps = []
            for i, s in enumerate(steps_raw):
                if not isinstance(s, dict):
                    raise ValueError(f"steps[{i}] must be an object")
                if not isinstance(s.get("action"), str):
                    raise ValueError(f"steps[{i}].action must be a string")
                if not isinstance(s.get("reward"), (int, float)) or isinstance(s.get("reward"), bool):
                    raise ValueError(f"steps[{i}].reward must be a number")
                steps.append(StepRecord(s["action"], float(s["reward"]), bool(s["terminated"]), bool(s["truncated"])))
            env_id, seed = data["env_id"], data["seed"]
            kwargs, options = data.get("env_kwargs", {}), data.get("options", {})
        except KeyError as exc:
            raise ValueError(f"episode record is missing the field {exc.args[0]!r}") from None
        if not isinstance(env_id, str):
            raise ValueError("'env_id' must be a string")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("'seed' must be an integer")
        if not isinstance(kwargs, dict) or not isinstance(options, dict):
            raise ValueError("'env_kwargs' and 'options' must be objects")
        return cls(env_id, kwargs, seed, options, steps, str(data.get("env_version", "")),
                   dict(data.get("final_info") or {}))


class EpisodeRecorder(gym.Wrapper):
    """Wraps an env and records every episode as an :class:`EpisodeRecord`.

    A reset without a seed gets one drawn from the recorder's own RNG (seeded by ``seed``), so every
    recorded episode is replayable. ``env_kwargs`` must be the kwargs the env was built with (what
    ``gym.make`` needs to build it again); by default they are read from ``env.spec``.
    Finished episodes accumulate in :attr:`records`; the current one is :attr:`current`.
    """

    def __init__(self, env: gym.Env, *, env_kwargs: dict[str, Any] | None = None, seed: int | None = None):
        super().__init__(env)
        spec = env.spec
        if spec is None and env_kwargs is None:
            raise ValueError("EpisodeRecorder needs an env made by gym.make, or explicit env_kwargs")
        self._env_id = spec.id if spec is not None else type(env.unwrapped).__name__
        self._env_kwargs = dict(env_kwargs if env_kwargs is not None else spec.kwargs)
        self._seed_rng = random.Random(seed)
        self.records: list[EpisodeRecord] = []
        self.current: EpisodeRecord | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None:
            seed = self._seed_rng.randrange(2**31)
        self._finish()
        obs, info = self.env.reset(seed=seed, options=options)
        self.current = EpisodeRecord(
            self._env_id, self._env_kwargs, seed, dict(options or {}),
            env_version=getattr(self.env.unwrapped, "env_version", ""),
        )
        return obs, info

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        assert self.current is not None  # the inner env raised already if reset was missing
        self.current.steps.append(StepRecord(action, float(reward), bool(terminated), bool(truncated)))
        if terminated or truncated:
            self.current.final_info = _jsonable_info(info)
            self._finish()
        return obs, reward, terminated, truncated, info

    def _finish(self) -> None:
        if self.current is not None and self.current.steps:
            self.records.append(self.current)
        self.current = None


@dataclass
class ReplayResult:
    """What the env answered when an episode's actions were replayed."""

    rewards: list[float]
    terminated: list[bool]
    truncated: list[bool]
    final_info: dict[str, Any]

    def matches(self, record: EpisodeRecord, tol: float = 1e-9) -> bool:
        """True when rewards and end flags equal the record's, step for step."""
        if len(self.rewards) != len(record.steps):
            return False
        return all(
            abs(r - s.reward) <= tol and t == s.terminated and u == s.truncated
            for r, t, u, s in zip(self.rewards, self.terminated, self.truncated, record.steps)
        )


def replay(record: EpisodeRecord, env: gym.Env | None = None) -> ReplayResult:
    """Re-run ``record``'s actions in a fresh env (or ``env``) and return what the env answers now.

    Stops early if the env ends the episode before the record does (the result is then shorter than
    the record, which :meth:`ReplayResult.matches` reports as a mismatch).
    """
    own_env = env is None
    if env is None:
        env = gym.make(record.env_id, **record.env_kwargs)
    try:
        env.reset(seed=record.seed, options=record.options or None)
        rewards: list[float] = []
        terms: list[bool] = []
        truncs: list[bool] = []
        info: dict[str, Any] = {}
        for step in record.steps:
            _, reward, terminated, truncated, info = env.step(step.action)
            rewards.append(float(reward))
            terms.append(bool(terminated))
            truncs.append(bool(truncated))
            if terminated or truncated:
                break
        return ReplayResult(rewards, terms, truncs, _jsonable_info(info))
    finally:
        if own_env:
            env.close()


def _jsonable_info(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON-friendly scalar entries of an info dict (``won``, ``score``, ...)."""
    return {k: v for k, v in info.items() if isinstance(v, (bool, int, float, str))}
