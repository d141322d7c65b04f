"""The result document: what ``spear-bench run``/``eval`` write and the leaderboard accepts.

A :class:`Result` is strict JSON (unknown fields and wrong types are rejected, numbers must be finite)
and versioned by :data:`SCHEMA_VERSION`. It carries everything needed to rank and to re-check a run:

* the code and env it came from: ``spear_bench_version``, ``env`` (id, version, constructor kwargs,
  data fingerprint);
* how it was made: ``method`` (display name), ``preset`` and the full resolved ``config``, ``model``
  (name, parameter count, weights hash), ``seeds``, ``hardware``, ``wall_time_s``;
* what it claims: ``metrics`` (success rate and score per seed, their mean and standard error);
* the evidence: ``runs``, per seed the episode records of :class:`spear_envs.core.EpisodeRecorder`
  (reset seed, env kwargs, actions, rewards, end flags).

Metric definitions (:func:`compute_metrics`): an episode *succeeds* when its last ``info["won"]`` is
true; its *score* is its total reward. Per seed, ``success_rate`` and ``score`` are means over that
seed's episodes; ``*_mean`` averages the per-seed values and ``*_stderr`` is their sample standard
deviation divided by sqrt(number of seeds) (``None`` with a single seed).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from datetime import datetime, timezone
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from spear_envs.core import EpisodeRecord, StepRecord

SCHEMA_VERSION = 1

#: Limits that keep one document's verification bounded (the server's body-size limit applies too).
MAX_SEEDS = 64
MAX_EPISODES_PER_SEED = 5_000
MAX_STEPS_PER_EPISODE = 10_000
MAX_NAME_LENGTH = 200

JsonScalar = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Step(_Strict):
    action: str
    reward: float
    terminated: bool
    truncated: bool


class Episode(_Strict):
    """One episode as recorded by :class:`~spear_envs.core.EpisodeRecorder` (same field names)."""

    format: Literal[1] = 1
    env_id: str
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    seed: int
    options: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS_PER_EPISODE)
    env_version: str
    final_info: dict[str, JsonScalar] = Field(default_factory=dict)

    @classmethod
    def from_record(cls, record: EpisodeRecord) -> "Episode":
        return cls.model_validate(json.loads(record.to_json()))

    def to_record(self) -> EpisodeRecord:
        steps = [StepRecord(s.action, s.reward, s.terminated, s.truncated) for s in self.steps]
        return EpisodeRecord(self.env_id, dict(self.env_kwargs), self.seed, dict(self.options), steps,
                             self.env_version, dict(self.final_info))


class Run(_Strict):
    """All episodes played with one seed."""

    seed: int
    episodes: list[Episode] = Field(min_length=1, max_length=MAX_EPISODES_PER_SEED)


class SeedMetrics(_Strict):
    seed: int
    episodes: int = Field(ge=1)
    success_rate: float = Field(ge=0.0, le=1.0)
    score: float


class Metrics(_Strict):
    per_seed: list[SeedMetrics] = Field(min_length=1)
    success_mean: float = Field(ge=0.0, le=1.0)
    success_stderr: float | None = Field(ge=0.0)
    score_mean: float
    score_stderr: float | None = Field(ge=0.0)


class EnvSpec(_Strict):
    id: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    version: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    data_fingerprint: dict[str, Any] = Field(default_factory=dict)


class ModelInfo(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    parameters: int | None = Field(default=None, ge=0)
    weights_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Hardware(_Strict):
    platform: str = Field(max_length=MAX_NAME_LENGTH)
    cpu: str = Field(max_length=MAX_NAME_LENGTH)
    accelerator: str = Field(default="none", max_length=MAX_NAME_LENGTH)


class Result(_Strict):
    """A complete, self-verifying result document (see the module docstring)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    spear_bench_version: str = Field(min_length=1, max_length=64)
    created_at: datetime
    method: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: str = Field(default="", max_length=2_000)
    env: EnvSpec
    preset: str = Field(max_length=MAX_NAME_LENGTH)
    config: dict[str, Any] = Field(default_factory=dict)
    model: ModelInfo
    seeds: list[int] = Field(min_length=1, max_length=MAX_SEEDS)
    hardware: Hardware
    wall_time_s: float = Field(ge=0.0)
    metrics: Metrics
    runs: list[Run] = Field(min_length=1, max_length=MAX_SEEDS)

    @model_validator(mode="before")
    @classmethod
    def _parse_timestamp(cls, data: Any) -> Any:
        # strict mode refuses strings for datetimes; accept RFC 3339 text explicitly (JSON has no dates).
        if isinstance(data, dict) and isinstance(data.get("created_at"), str):
            try:
                data = {**data, "created_at": datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))}
            except ValueError:
                raise ValueError("created_at must be an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00+00:00")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "Result":
        run_seeds = [r.seed for r in self.runs]
        if run_seeds != self.seeds:
            raise ValueError(f"runs are for seeds {run_seeds} but 'seeds' lists {self.seeds}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("'seeds' contains duplicates")
        if [m.seed for m in self.metrics.per_seed] != self.seeds:
            raise ValueError("metrics.per_seed must list the seeds in the order of 'seeds'")
        for r in self.runs:
            for i, ep in enumerate(r.episodes):
                where = f"runs[seed={r.seed}].episodes[{i}]"
                if ep.env_id != self.env.id:
                    raise ValueError(f"{where}.env_id is {ep.env_id!r} but the result is for {self.env.id!r}")
                if ep.env_version != self.env.version:
                    raise ValueError(f"{where}.env_version is {ep.env_version!r} but env.version is "
                                     f"{self.env.version!r}")
                if ep.env_kwargs != self.env.kwargs:
                    raise ValueError(f"{where}.env_kwargs differ from env.kwargs")
        return self

    # ------------------------------------------------------------------ helpers
    def records(self) -> dict[int, list[EpisodeRecord]]:
        """Episode records by seed, ready for :func:`spear_envs.core.replay`."""
        return {r.seed: [ep.to_record() for ep in r.episodes] for r in self.runs}

    def content_hash(self) -> str:
        """SHA-256 of the normalised evidence: equal evidence, equal hash (the server's duplicate check).

        Only what decides the episodes counts: the setting (env id, version, kwargs) and, per episode,
        its reset seed, reset options and actions with whitespace runs collapsed and ends stripped.
        Runs are hashed as a sorted list, so run seeds are labels only. Names, dates, claimed numbers,
        rewards and ``final_info`` (all recomputed by replay) are left out, so none of them makes a
        resubmission of the same episodes new.
        """
        runs = sorted(_digest([[ep.seed, ep.options, [normalise_action(s.action) for s in ep.steps]]
                               for ep in r.episodes]) for r in self.runs)
        return _digest({"env": [self.env.id, self.env.version, self.env.kwargs], "runs": runs})

    def to_json(self, indent: int | None = 1) -> str:
        return self.model_dump_json(indent=indent)


def normalise_action(action: str) -> str:
    """An action as the duplicate check sees it: whitespace runs collapsed to one space, ends stripped."""
    return " ".join(action.split())


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# ---------------------------------------------------------------------- metrics
def episode_outcome(record: EpisodeRecord) -> tuple[bool, float]:
    """(succeeded, score) of one episode: its last ``won`` flag and its total reward."""
    return bool(record.final_info.get("won", False)), record.total_reward


def compute_metrics(outcomes_by_seed: dict[int, Sequence[tuple[bool, float]]]) -> Metrics:
    """Metrics from per-seed episode outcomes ``(succeeded, score)``; seeds keep their given order."""
    per_seed = []
    for seed, outcomes in outcomes_by_seed.items():
        if not outcomes:
            raise ValueError(f"seed {seed} has no episodes")
        per_seed.append(SeedMetrics(
            seed=seed, episodes=len(outcomes),
            success_rate=sum(1 for won, _ in outcomes if won) / len(outcomes),
            score=math.fsum(score for _, score in outcomes) / len(outcomes),
        ))
    if not per_seed:
        raise ValueError("no seeds given")
    success_mean, success_stderr = mean_and_stderr([m.success_rate for m in per_seed])
    score_mean, score_stderr = mean_and_stderr([m.score for m in per_seed])
    return Metrics(per_seed=per_seed, success_mean=success_mean, success_stderr=success_stderr,
                   score_mean=score_mean, score_stderr=score_stderr)


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and standard error of the mean (sample std / sqrt(n)); the error is ``None`` when n < 2."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def metrics_equal(a: Metrics, b: Metrics, rel_tol: float = 1e-9, abs_tol: float = 1e-12) -> list[str]:
    """The fields where claimed metrics ``a`` differ from recomputed ``b`` (empty list: equal)."""
    diffs: list[str] = []

    def close(x: float | None, y: float | None) -> bool:
        if x is None or y is None:
            return x is y
        return math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)

    for name in ("success_mean", "success_stderr", "score_mean", "score_stderr"):
        if not close(getattr(a, name), getattr(b, name)):
            diffs.append(f"{name}: claimed {getattr(a, name)!r}, recomputed {getattr(b, name)!r}")
    for ca, cb in zip(a.per_seed, b.per_seed):
        for name in ("episodes", "success_rate", "score"):
            if not close(getattr(ca, name), getattr(cb, name)):
                diffs.append(f"per_seed[seed={ca.seed}].{name}: claimed {getattr(ca, name)!r}, "
                             f"recomputed {getattr(cb, name)!r}")
    return diffs


# ---------------------------------------------------------------------- building a result
def detect_hardware() -> Hardware:
    """What this process runs on (best effort; never fails)."""
    accelerator = "none"
    try:
        import torch

        if torch.cuda.is_available():
            accelerator = f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - torch missing or broken driver: report no accelerator
        pass
    cpu = f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
    return Hardware(platform=platform.platform()[:MAX_NAME_LENGTH], cpu=cpu[:MAX_NAME_LENGTH],
                    accelerator=accelerator[:MAX_NAME_LENGTH])


def build_result(
    records_by_seed: dict[int, Sequence[EpisodeRecord]],
    *,
    method: str,
    model: ModelInfo,
    wall_time_s: float,
    preset: str = "none",
    config: dict[str, Any] | None = None,
    description: str = "",
    data_fingerprint: dict[str, Any] | None = None,
    hardware: Hardware | None = None,
    created_at: datetime | None = None,
) -> Result:
    """Assemble a :class:`Result` from recorded episodes (keyed by seed, in seed order) and metadata.

    The env id, version and kwargs are read from the records (they must all agree). When
    ``data_fingerprint`` is ``None`` it is read from a freshly built env's ``data_fingerprint()``.
    Metrics are computed from the records' own rewards and ``won`` flags.
    """
    from spear_train import __version__

    all_records = [r for recs in records_by_seed.values() for r in recs]
    if not all_records:
        raise ValueError("no episode records given")
    first = all_records[0]
    if data_fingerprint is None:
        data_fingerprint = env_data_fingerprint(first.env_id, first.env_kwargs)
    metrics = compute_metrics({s: [episode_outcome(r) for r in recs] for s, recs in records_by_seed.items()})
    return Result(
        spear_bench_version=__version__,
        created_at=created_at or datetime.now(timezone.utc),
        method=method,
        description=description,
        env=EnvSpec(id=first.env_id, version=first.env_version, kwargs=dict(first.env_kwargs),
                    data_fingerprint=data_fingerprint),
        preset=preset,
        config=dict(config or {}),
        model=model,
        seeds=list(records_by_seed),
        hardware=hardware or detect_hardware(),
        wall_time_s=float(wall_time_s),
        metrics=metrics,
        runs=[Run(seed=s, episodes=[Episode.from_record(r) for r in recs]) for s, recs in records_by_seed.items()],
    )


def env_data_fingerprint(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``data_fingerprint()`` of a fresh ``gym.make(env_id, **env_kwargs)`` (``{}`` for non-TextEnv envs)."""
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    try:
        fingerprint = getattr(env.unwrapped, "data_fingerprint", lambda: {})()
        return json.loads(json.dumps(fingerprint))  # normalise to plain JSON types
    finally:
        env.close()
