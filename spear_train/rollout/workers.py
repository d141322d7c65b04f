"""Environment workers: where the envs of a rollout batch live and get stepped.

A batch of ``num_envs`` env copies ("slots", numbered 0..num_envs-1) is split into contiguous slices, one
per :class:`EnvHost`. A host steps its whole slice in one call; the steps its envs allow to overlap
(:meth:`~spear_envs.core.TextEnv.step_can_overlap`, e.g. MathTool's sandboxed tool calls) run side by side
in up to ``step_threads`` threads, the others one after another. Two pools expose the same interface:

* :class:`LocalEnvPool`: one host in this process (debugging, small tests, ``--env-workers 0``).
* :class:`RayEnvPool`: ``N`` hosts as Ray actors (``--env-workers N``); their slices step in parallel.
  Ray starts locally unless given an address (:func:`init_ray`). A worker that dies is restarted at
  once; the episodes it hosted come back as failed (:attr:`StepOutcome.error` set), never lost silently.

``ray`` is imported only when a Ray pool is built.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from spear_train.rollout.step_threads import can_overlap, step_threads


@dataclass(frozen=True)
class EnvSpec:
    """How to build one env copy: ``gym.make(env_id, **kwargs)`` after importing ``spear_envs`` and
    ``imports`` (modules that register envs living outside ``spear_envs``).

    ``record``: wrap each copy in a :class:`~spear_envs.core.EpisodeRecorder` (built with ``kwargs``), so
    the host keeps a replayable record of each slot's episode as it is played
    (:meth:`EnvHost.episode_records`); the recorder passes every reset and step through unchanged.

    ``step_threads``: how many steps a host may run at once when its envs allow it
    (:func:`~spear_train.rollout.step_threads.step_threads`; ``None``: ``$SPEAR_ENV_STEP_THREADS`` or 8;
    1 steps one after another)."""

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    record: bool = False
    step_threads: int | None = None

    def make(self):
        import gymnasium as gym

        import spear_envs  # noqa: F401  (registers the spear envs)

        for module in self.imports:
            importlib.import_module(module)
        env = gym.make(self.env_id, disable_env_checker=True, **self.kwargs)
        if self.record:
            from spear_envs.core import EpisodeRecorder

            env = EpisodeRecorder(env, env_kwargs=self.kwargs)
        return env


@dataclass
class StepOutcome:
    """What one slot's env answered to a reset or a step; ``error`` is set when it could not."""

    observation: str = ""
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""


#: Env kwargs that switch on an env's scripted expert (envs whose expert is always on are absent).
EXPERT_ENV_KWARGS: dict[str, dict[str, Any]] = {"spear/ALFWorld-v0": {"expert": "handcoded"}}


def expert_action(env) -> str:
    """The env's scripted expert action for its current state: the env's own
    :meth:`~spear_envs.core.TextEnv.expert_action` (the one place experts live; ALFWorld needs its expert
    switched on, :data:`EXPERT_ENV_KWARGS`). ``NotImplementedError`` names an env that offers none."""
    expert = getattr(env.unwrapped, "expert_action", None)
    if expert is None:
        raise NotImplementedError(f"{type(env.unwrapped).__name__} offers no scripted expert (no expert_action())")
    return expert()


class EnvHost:
    """Hosts ``num_envs`` copies of one env and steps any subset of them in one call.

    Indices are local (0..num_envs-1). An exception from one env fails that slot only. The host keeps
    the actions each env received in the current episode (:meth:`received_actions`), so a rollout can be
    checked against what the envs really saw, and, with ``spec.record``, each env's episode record since
    its last reset (:meth:`episode_records`). Steps the envs allow to overlap run in up to
    :func:`~spear_train.rollout.step_threads.step_threads` threads, the rest on the caller's thread; outcomes are the same either way.
    """

    def __init__(self, spec: EnvSpec, num_envs: int):
        self.spec = spec
        self.step_threads = step_threads(spec, num_envs)
        self.envs = [spec.make() for _ in range(num_envs)]
        self._received: list[list[str]] = [[] for _ in range(num_envs)]
        self._recorders = [_recorder_of(env) for env in self.envs]
        self._threads: ThreadPoolExecutor | None = None

    def reset(self, seeds: Sequence[int]) -> list[StepOutcome]:
        if len(seeds) != len(self.envs):
            raise ValueError(f"reset needs one seed per env ({len(self.envs)}), got {len(seeds)}")
        outcomes = []
        for k, (env, seed) in enumerate(zip(self.envs, seeds)):
            self._received[k] = []
            if self._recorders[k] is not None:  # keep only this episode's record
                self._recorders[k].records.clear()
                self._recorders[k].current = None
            try:
                obs, info = env.reset(seed=int(seed))
                outcomes.append(StepOutcome(obs, 0.0, False, False, info))
            except Exception as exc:  # an engine failure fails this episode, not the batch
                outcomes.append(StepOutcome(error=f"reset failed: {type(exc).__name__}: {exc}"))
        return outcomes

    def step(self, actions: dict[int, str]) -> dict[int, StepOutcome]:
        """Step each listed env with its action; outcomes come back keyed and ordered as ``actions``.
        Steps that may overlap are handed to the threads first; the others run here meanwhile."""
        for k, action in actions.items():
            self._received[k].append(action)
        overlap = [k for k, a in actions.items() if self.step_threads > 1 and can_overlap(self.envs[k], a)]
        running = {}
        if len(overlap) > 1:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.step_threads, thread_name_prefix="env-step")
            running = {k: self._threads.submit(self._step_one, k, actions[k]) for k in overlap}
        return {k: running[k].result() if k in running else self._step_one(k, action)
                for k, action in actions.items()}

    def _step_one(self, k: int, action: str) -> StepOutcome:
        try:
            obs, reward, term, trunc, info = self.envs[k].step(action)
            return StepOutcome(obs, float(reward), bool(term), bool(trunc), info)
        except Exception as exc:
            return StepOutcome(error=f"step failed: {type(exc).__name__}: {exc}")

    def expert_actions(self, indices: Sequence[int]) -> dict[int, str]:
        """Each listed env's expert action (:func:`expert_action`)."""
        return {k: expert_action(self.envs[k]) for k in indices}

    def received_actions(self) -> list[list[str]]:
        return [list(a) for a in self._received]

    def episode_records(self, indices: Sequence[int] | None = None) -> list:
        """The :class:`~spear_envs.core.EpisodeRecord` of each listed env's episode since its last reset
        (all envs by default): finished (the env ended it) or cut short (the rollout stopped it); ``None``
        for an env that took no step. Raises ``ValueError`` unless the spec records (``EnvSpec.record``)."""
        if not self.spec.record:
            raise ValueError(f"the envs of {self.spec.env_id!r} are not recorded: build them with EnvSpec(record=True)")
        out = []
        for k in range(len(self.envs)) if indices is None else indices:
            rec = self._recorders[k]
            current = rec.current if rec.current is not None and rec.current.steps else None
            out.append(rec.records[-1] if rec.records else current)
        return out

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        for env in self.envs:
            env.close()


def _recorder_of(env):
    """The :class:`~spear_envs.core.EpisodeRecorder` among ``env``'s wrappers, or ``None``."""
    import gymnasium as gym

    from spear_envs.core import EpisodeRecorder

    while isinstance(env, gym.Wrapper):
        if isinstance(env, EpisodeRecorder):
            return env
        env = env.env
    return None


def _slices(num_envs: int, num_workers: int) -> list[range]:
    """Contiguous, near-equal slices of ``range(num_envs)``; every worker gets at least one slot."""
    if num_workers < 1 or num_workers > num_envs:
        raise ValueError(f"need 1 <= env workers <= num_envs ({num_envs}), got {num_workers}")
    base, extra = divmod(num_envs, num_workers)
    out, start = [], 0
    for w in range(num_workers):
        size = base + (w < extra)
        out.append(range(start, start + size))
        start += size
    return out


class LocalEnvPool:
    """All slots in one in-process :class:`EnvHost`."""

    def __init__(self, spec: EnvSpec, num_envs: int):
        self.spec, self.num_envs = spec, num_envs
        self.host = EnvHost(spec, num_envs)

    def reset(self, seeds: Sequence[int]) -> list[StepOutcome]:
        return self.host.reset(seeds)

    def step(self, actions: dict[int, str]) -> dict[int, StepOutcome]:
        return self.host.step(actions)

    def expert_actions(self, indices: Sequence[int]) -> dict[int, str]:
        return self.host.expert_actions(indices)

    def received_actions(self) -> list[list[str]]:
        return self.host.received_actions()

    def episode_records(self) -> list:
        """Each slot's episode record (:meth:`EnvHost.episode_records`)."""
        return self.host.episode_records()

    def close(self) -> None:
        self.host.close()


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start a local Ray (default) or join the cluster at ``address``; no-op if Ray is already up.

    Local starts skip the dashboard. ``num_cpus`` caps what a local Ray may schedule. Without an address a
    new local Ray is always started (``address="local"``), even when a cluster started with ``ray start``
    runs on this machine (plain ``ray.init()`` would join that one and refuse ``num_cpus``); joining a
    cluster is what ``address`` (``--ray-address``) is for.
    """
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


class RayEnvPool:
    """Slots spread over ``num_workers`` Ray actors, each an :class:`EnvHost` stepping its slice in one call.

    Args:
        spec: the env to host.
        num_envs: total slots.
        num_workers: Ray actors (at most ``num_envs``).
        worker_cpus: CPUs each actor reserves in Ray's scheduler (fractions allowed).
        ray_address: join this cluster; ``None`` starts Ray locally if it is not running.

    Failure handling: if an actor dies (its process is killed, it runs out of memory, its node goes
    away), the call that notices it gets, for each of that actor's slots in the call, a
    :class:`StepOutcome` whose ``error`` names the dead worker. A fresh actor replaces the dead one at
    once, so the next :meth:`reset` uses it. :attr:`restarts` counts replacements.
    """

    def __init__(self, spec: EnvSpec, num_envs: int, num_workers: int, worker_cpus: float = 1.0,
                 ray_address: str | None = None):
        import ray

        init_ray(ray_address)
        self.spec, self.num_envs, self.worker_cpus = spec, num_envs, worker_cpus
        self.slices = _slices(num_envs, num_workers)
        self._remote_host = ray.remote(EnvHost)
        self.workers = [self._spawn(len(s)) for s in self.slices]
        ray.get([w.pid.remote() for w in self.workers])  # surface construction errors here
        self.restarts = 0

    def _spawn(self, size: int):
        return self._remote_host.options(num_cpus=self.worker_cpus, max_restarts=0).remote(self.spec, size)

    def _owner(self, slot: int) -> tuple[int, int]:
        for w, s in enumerate(self.slices):
            if slot in s:
                return w, slot - s.start
        raise IndexError(f"slot {slot} out of range 0..{self.num_envs - 1}")

    def _call(self, method: str, per_worker: dict[int, Any]) -> dict[int, Any]:
        """Call ``method`` on several workers in parallel; a dead worker's entry is an error string."""
        import ray
        from ray.exceptions import RayActorError

        futures = {w: getattr(self.workers[w], method).remote(arg) for w, arg in per_worker.items()}
        results: dict[int, Any] = {}
        for w, future in futures.items():
            try:
                results[w] = ray.get(future)
            except RayActorError as exc:
                results[w] = f"env worker {w} died ({type(exc).__name__}); it was restarted"
                self._restart(w)
        return results

    def _restart(self, w: int) -> None:
        import ray

        ray.kill(self.workers[w], no_restart=True)
        self.workers[w] = self._spawn(len(self.slices[w]))
        self.restarts += 1

    def reset(self, seeds: Sequence[int]) -> list[StepOutcome]:
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset needs one seed per env ({self.num_envs}), got {len(seeds)}")
        results = self._call("reset", {w: [seeds[i] for i in s] for w, s in enumerate(self.slices)})
        outcomes: list[StepOutcome] = []
        for w, s in enumerate(self.slices):
            r = results[w]
            outcomes.extend([StepOutcome(error=r)] * len(s) if isinstance(r, str) else r)
        return outcomes

    def step(self, actions: dict[int, str]) -> dict[int, StepOutcome]:
        per_worker: dict[int, dict[int, str]] = {}
        for slot, action in actions.items():
            w, local = self._owner(slot)
            per_worker.setdefault(w, {})[local] = action
        results = self._call("step", per_worker)
        outcomes: dict[int, StepOutcome] = {}
        for w, local_actions in per_worker.items():
            start = self.slices[w].start
            for local in local_actions:
                r = results[w]
                outcomes[start + local] = StepOutcome(error=r) if isinstance(r, str) else r[local]
        return outcomes

    def expert_actions(self, indices: Sequence[int]) -> dict[int, str]:
        per_worker: dict[int, list[int]] = {}
        for slot in indices:
            w, local = self._owner(slot)
            per_worker.setdefault(w, []).append(local)
        results = self._call("expert_actions", per_worker)
        out = {}  # a dead worker's slots are left out; their next step fails them
        for w, r in results.items():
            if isinstance(r, str):
                continue
            out.update({self.slices[w].start + k: a for k, a in r.items()})
        return out

    def received_actions(self) -> list[list[str]]:
        import ray

        return [a for per_worker in ray.get([w.received_actions.remote() for w in self.workers]) for a in per_worker]

    def episode_records(self) -> list:
        """Each slot's episode record (:meth:`EnvHost.episode_records`); ``None`` for the slots of a
        worker that died (their episodes came back failed)."""
        results = self._call("episode_records", {w: list(range(len(s))) for w, s in enumerate(self.slices)})
        out: list = []
        for w, s in enumerate(self.slices):
            r = results[w]
            out.extend([None] * len(s) if isinstance(r, str) else r)
        return out

    def worker_pids(self) -> list[int]:
        import ray

        return ray.get([w.pid.remote() for w in self.workers])

    def close(self) -> None:
        import ray

        for w in self.workers:
            ray.kill(w, no_restart=True)
        self.workers = []


def make_env_pool(spec: EnvSpec, num_envs: int, env_workers: int = 0, worker_cpus: float = 1.0,
                  ray_address: str | None = None):
    """``env_workers == 0``: a :class:`LocalEnvPool`; otherwise a :class:`RayEnvPool` with that many actors."""
    if env_workers < 0:
        raise ValueError(f"--env-workers must be >= 0 (0 = in-process), got {env_workers}")
    if env_workers == 0:
        return LocalEnvPool(spec, num_envs)
    return RayEnvPool(spec, num_envs, min(env_workers, num_envs), worker_cpus, ray_address)
