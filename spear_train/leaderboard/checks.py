"""Checks on a result that need no replay: which setting it claims, which tasks it played, and how.

They run before any episode is replayed (on the server: in the request, before the job is queued), so a
cherry-picked, training-split, unfinished or oversized document costs no replay time.

* :func:`check_depth` -- refuses parsed JSON nested deeper than the limit (``spear_train.nesting``).
* :func:`find_setting` -- the registered :class:`~.settings.BenchmarkSetting` the env kwargs name.
* :func:`check_episode_list` -- each run holds reset seeds ``0..N-1``, each once, ``N`` within the
  setting's bounds, every episode finished exactly at its last step, and no two runs identical.
* :func:`check_options` -- every episode's reset options are the canonical ones (needs the built env).
"""

from __future__ import annotations

from typing import Any, Iterable

from spear_train.nesting import nesting_depth
from spear_train.leaderboard.schema import Result, normalise_action
from spear_train.leaderboard.settings import (BenchmarkSetting, canonical_options, match_setting, settings_for,
                                              task_capacity)

#: Deepest nesting a submitted document may have (a real result is about 6 deep; configs a few more).
MAX_JSON_DEPTH = 32
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


def check_depth(data: Any, limit: int = MAX_JSON_DEPTH) -> None:
    depth = nesting_depth(data)
    if depth > limit:
        raise Rejection("too_deep", f"the document nests {depth} levels deep; at most {limit} are accepted")


def find_setting(result: Result) -> BenchmarkSetting:
    """The registered setting the result's env kwargs are, or a :class:`Rejection` saying why none is."""
    env_id, kwargs = result.env.id, result.env.kwargs
    settings = settings_for(env_id)
    if not settings:
        raise Rejection("unknown_env", f"{env_id!r} has no registered benchmark setting on this server")
    setting = match_setting(env_id, kwargs)
    if setting is not None:
        return setting
    split = kwargs.get("split")
    if any(split in s.training_splits for s in settings):
        raise Rejection("training_split", f"split={split!r} is a training split of {env_id}; results must be "
                        "on a held-out split", [f"{s.track} track: split={s.env_kwargs.get('split')!r}"
                                                for s in settings])
    raise Rejection("env_kwargs_not_allowed", f"the env kwargs are not those of any {env_id} benchmark setting",
                    [f"result: {dict(sorted(kwargs.items()))}"]
                    + [f"{s.track} track ({s.version}): {dict(sorted(s.env_kwargs.items()))}" for s in settings])


def check_episode_list(result: Result, setting: BenchmarkSetting) -> int:
    """Every run plays reset seeds ``0..N-1`` once each, finished, with one ``N`` >= the minimum; returns N."""
    problems: list[str] = []
    lengths = {len(r.episodes) for r in result.runs}
    if len(lengths) != 1:
        problems.append(f"runs hold different numbers of episodes: {sorted(lengths)}")
    for run in result.runs:
        seeds = [ep.seed for ep in run.episodes]
        if sorted(seeds) != list(range(len(seeds))):
            repeated = sorted({s for s in seeds if seeds.count(s) > 1})[:10]
            missing = sorted(set(range(len(seeds))) - set(seeds))[:10]
            problems.append(f"run seed {run.seed}: reset seeds must be 0..{len(seeds) - 1}, each once"
                            + (f"; repeated: {repeated}" if repeated else "")
                            + (f"; missing: {missing}" if missing else ""))
    if problems:
        raise Rejection("task_list_mismatch", f"the episodes are not the {setting.key} evaluation list "
                        f"(reset seeds 0..N-1, each once, N >= {setting.min_episodes})", problems)
    n = lengths.pop()
    if n < setting.min_episodes:
        raise Rejection("too_few_episodes", f"{n} episodes per run; the {setting.track} track of {setting.env_id} "
                        f"needs at least {setting.min_episodes} (reset seeds 0..{setting.min_episodes - 1})")
    unfinished = []
    for run in result.runs:
        for ep in run.episodes:
            ends = [s.terminated or s.truncated for s in ep.steps]
            if not ends[-1] or any(ends[:-1]):
                unfinished.append(f"run seed {run.seed}, reset seed {ep.seed}: "
                                  + ("ends without terminated or truncated" if not ends[-1]
                                     else "goes on after the episode ended"))
    if unfinished:
        raise Rejection("unfinished_episode", f"{len(unfinished)} episode(s) are not finished at their last step "
                        "(every episode must end terminated or truncated)", unfinished)
    evidence = [[(ep.seed, ep.options, [normalise_action(s.action) for s in ep.steps]) for ep in r.episodes]
                for r in result.runs]
    for i, run in enumerate(result.runs):
        for j in range(i):
            if evidence[i] == evidence[j]:
                raise Rejection("duplicate_runs", f"run seeds {result.runs[j].seed} and {run.seed} hold the same "
                                "episodes; each seed must be its own run")
    return n


def check_options(result: Result, setting: BenchmarkSetting, env: Any, n: int) -> None:
    """Each episode's reset options equal the canonical ones of its reset seed; ``N`` fits the split."""
    capacity = task_capacity(setting, env)
    if capacity is not None and n > capacity:
        raise Rejection("task_list_mismatch", f"{n} episodes per run, but the split holds {capacity} tasks "
                        f"(N may be at most {capacity}, so no task is played twice)")
    wrong = []
    canonical = {seed: canonical_options(setting, env, seed) for seed in range(n)}
    for run in result.runs:
        for ep in run.episodes:
            if ep.options != canonical[ep.seed]:
                wrong.append(f"run seed {run.seed}, reset seed {ep.seed}: options {ep.options} "
                             f"(canonical: {canonical[ep.seed]})")
    if wrong:
        raise Rejection("noncanonical_options", f"{len(wrong)} episode(s) reset with options other than the "
                        f"{setting.key} ones", wrong)
