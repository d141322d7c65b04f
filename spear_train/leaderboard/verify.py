"""Verification of a :class:`~spear_train.leaderboard.schema.Result` by replaying its episodes.

:func:`verify_result` accepts a result only when

1. its env kwargs are exactly those of a registered benchmark setting (:mod:`.settings`; a training
   split is refused as such), and its episodes are that setting's evaluation list: reset seeds
   ``0..N-1``, each once, ``N`` at least the setting's minimum, each finished, with the canonical reset
   options, and no two runs identical (:mod:`.checks`);
2. its env version is the version this process runs and its data fingerprint equals this env's;
3. every episode, replayed action by action in a fresh deterministic env within a :class:`ReplayBudget`
   (total tool calls and sandbox seconds; tools run with a short time-out), gives the recorded rewards,
   end flags and ``won`` flag;
4. the claimed metrics equal the metrics recomputed from the replays.

Anything else raises :class:`~.checks.Rejection`, whose ``reason`` is a stable machine code and whose
``message``/``details`` say exactly what differed. The graded score (WebShop's upstream 0-1
``info["score"]``) is recomputed from the replays too: mean per seed, then mean ± SE over seeds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from spear_envs.core import EpisodeRecord, ReplayResult, replay
from spear_train.leaderboard.checks import Rejection, check_episode_list, check_options, find_setting
from spear_train.leaderboard.schema import Metrics, Result, compute_metrics, mean_and_stderr, metrics_equal
from spear_train.leaderboard.settings import BenchmarkSetting

__all__ = ["ReplayBudget", "Rejection", "Verification", "verify_result", "check_before_replay"]


@dataclass(frozen=True)
class ReplayBudget:
    """What one submission's replay may spend: tool calls, sandbox seconds (wall time of the env steps that
    ran a tool call), and the time-out each tool call runs under. Envs without tools are bounded by their
    setting instead (episodes x turn limit)."""

    max_tool_calls: int = 5_000
    max_sandbox_seconds: float = 600.0
    tool_timeout_s: float = 2.0


@dataclass
class Verification:
    """What a successful verification established."""

    content_hash: str
    metrics: Metrics
    episodes: int
    env_version: str
    setting: BenchmarkSetting
    graded_score: tuple[float, float | None] | None = None  # (mean, stderr) over seeds
    sandbox_seconds: float = 0.0
    tool_calls: int = 0


def check_before_replay(result: Result) -> tuple[BenchmarkSetting, int]:
    """The checks that need no env: setting, episode list, finished episodes. Returns (setting, N)."""
    setting = find_setting(result)
    return setting, check_episode_list(result, setting)


def verify_result(result: Result, *, budget: ReplayBudget | None = None) -> Verification:
    """Check ``result`` (see the module docstring); raises :class:`Rejection` on any difference."""
    budget = budget or ReplayBudget()
    setting, n = check_before_replay(result)
    kwargs = dict(setting.env_kwargs)
    if setting.tool_timeout_kwarg:
        kwargs[setting.tool_timeout_kwarg] = budget.tool_timeout_s
    try:
        env = gym.make(result.env.id, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a broken registration is reported, not raised as a 500
        raise Rejection("bad_env_kwargs", f"could not build {result.env.id} with {kwargs}: {exc}") from None
    meter = _Meter(env, budget)
    try:
        current = str(getattr(env.unwrapped, "env_version", ""))
        if result.env.version != current:
            raise Rejection("unknown_env_version",
                            f"{result.env.id} version {result.env.version!r} is not the version this server runs "
                            f"({current!r}); re-run your evaluation with the current spear-bench")
        fingerprint = json.loads(json.dumps(getattr(env.unwrapped, "data_fingerprint", lambda: {})()))
        if result.env.data_fingerprint != fingerprint:
            raise Rejection("data_fingerprint_mismatch",
                            f"the result's data fingerprint differs from this server's data for {result.env.id}",
                            [f"claimed {result.env.data_fingerprint}", f"server {fingerprint}"])
        check_options(result, setting, env, n)
        outcomes, graded, mismatches = _replay_all(result, meter, setting.graded_score_key)
    finally:
        env.close()
    if mismatches:
        raise Rejection("replay_mismatch", f"{len(mismatches)} episode(s) do not replay to the recorded rewards",
                        mismatches)
    recomputed = compute_metrics(outcomes)
    diffs = metrics_equal(result.metrics, recomputed)
    if diffs:
        raise Rejection("metrics_mismatch", "the claimed metrics differ from those recomputed by replay", diffs)
    graded_score = mean_and_stderr([sum(v) / len(v) for v in graded.values()]) if graded else None
    return Verification(result.content_hash(), recomputed, sum(len(r.episodes) for r in result.runs), current,
                        setting, graded_score, meter.seconds, meter.tool_calls)


def _replay_all(result: Result, env: gym.Env, graded_key: str | None):
    outcomes: dict[int, list[tuple[bool, float]]] = {}
    graded: dict[int, list[float]] = {}
    mismatches: list[str] = []
    for run in result.runs:
        outcomes[run.seed] = []
        for episode in run.episodes:
            record = episode.to_record()
            where = f"run seed {run.seed}, reset seed {record.seed}"
            try:
                again = replay(record, env)
            except Rejection:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. an over-long action the env refuses
                raise Rejection("replay_error", f"{where}: the env refused the replay: "
                                                f"{type(exc).__name__}: {exc}") from None
            problem = _first_difference(record, again)
            if problem:
                mismatches.append(f"{where}: {problem}")
            outcomes[run.seed].append((bool(again.final_info.get("won", False)), sum(again.rewards)))
            if graded_key is not None:
                graded.setdefault(run.seed, []).append(float(again.final_info.get(graded_key, 0.0)))
    return outcomes, graded, mismatches


class _Meter(gym.Wrapper):
    """Counts tool calls (the env's ``info["tool_calls"]``) and sandbox seconds (wall time of the steps that ran
    a tool); stops the replay with ``replay_budget_exceeded`` as soon as either passes the budget."""

    def __init__(self, env: gym.Env, budget: ReplayBudget):
        super().__init__(env)
        self.budget, self.seconds, self.tool_calls, self._episode_calls = budget, 0.0, 0, 0

    def reset(self, **kwargs):
        self._episode_calls = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        start = time.perf_counter()
        out = self.env.step(action)
        calls = out[4].get("tool_calls")
        if isinstance(calls, int) and calls > self._episode_calls:
            self.seconds += time.perf_counter() - start
            self.tool_calls += calls - self._episode_calls
            self._episode_calls = calls
        if self.tool_calls > self.budget.max_tool_calls or self.seconds > self.budget.max_sandbox_seconds:
            raise Rejection("replay_budget_exceeded",
                            f"replaying this submission took {self.tool_calls} tool calls and {self.seconds:.1f} s "
                            f"in the sandbox, over the budget ({self.budget.max_tool_calls} calls, "
                            f"{self.budget.max_sandbox_seconds:g} s; tools time out after "
                            f"{self.budget.tool_timeout_s:g} s)")
        return out


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


def describe(verification: Verification) -> dict[str, Any]:
    """The fields of a verification the server and the CLI report."""
    m = verification.metrics
    out = {"track": verification.setting.track, "setting": verification.setting.key,
           "success_mean": m.success_mean, "success_stderr": m.success_stderr,
           "score_mean": m.score_mean, "score_stderr": m.score_stderr}
    if verification.graded_score is not None:
        out["graded_score_mean"], out["graded_score_stderr"] = verification.graded_score
    return out
