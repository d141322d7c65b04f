"""The env-side speed-ups of a laptop run, off vs on, on the same seeds (used by ``laptop_speed.py``).

* ALFWorld: each game is parsed and translated once per process (``spear_envs.alfworld.fast_engine``'s
  game cache of ``GAME_CACHE_SIZE`` games, a new game reusing earlier rule parses). Off: the previous
  setting, ``configure_game_cache(64, 256, reuse_rule_parses=False, sas_store_enabled=False)``: fewer
  logics than an evaluation's 100 games, so every evaluation parsed every game again.
* math: an env host runs a turn's tool calls side by side (``EnvHost`` threads, ``TextEnv.step_can_overlap``).
  Off: ``SPEAR_ENV_STEP_THREADS=1``, one call after another.

Per setting, from empty in-process caches (the on-disk game files are built beforehand): a held-out
evaluation (a run's step-0 evaluation), ``steps`` training steps, and a second evaluation (a run's
final one) with the fast decoder (the default backend). Wall and CPU seconds (this process; the
sandbox workers' CPU is not in it) and the seconds spent in env resets and steps are kept per phase.
The episodes (actions, returns, wins) of both settings must be identical: a difference is an error.
"""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from pathlib import Path

#: envs whose env work the speed-ups change (WebShop's steps are cheap and stay one after another)
ENV_SPEEDUP_ENVS = ("alfworld", "math")
SETTINGS = ("off", "on")
#: the ALFWorld game cache before it held an evaluation's games (``configure_game_cache`` keywords)
PREVIOUS_GAME_CACHE = dict(logics=64, states=256, reuse_rule_parses=False, sas_store_enabled=False)


def set_env_speedups(on: bool) -> None:
    """Switch both env-side speed-ups on (the defaults) or off (the previous behaviour); drops caches."""
    from spear_envs.alfworld.fast_engine import configure_game_cache

    if on:
        configure_game_cache()
        os.environ.pop("SPEAR_ENV_STEP_THREADS", None)
    else:
        configure_game_cache(**PREVIOUS_GAME_CACHE)
        os.environ["SPEAR_ENV_STEP_THREADS"] = "1"


def warm_sandbox() -> None:
    """Start every worker of MathTool's default shared sandbox pool, so neither setting pays for it."""
    from concurrent.futures import ThreadPoolExecutor

    from spear_envs.math_tool.env import SHARED_POOL_SIZE
    from spear_envs.math_tool.sandbox import SandboxLimits, shared_pool

    pool = shared_pool(SHARED_POOL_SIZE, SandboxLimits())
    with ThreadPoolExecutor(SHARED_POOL_SIZE) as threads:
        list(threads.map(pool.run, ["print(1)"] * SHARED_POOL_SIZE))


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class EnvTimer:
    """Sums the wall seconds of every in-process ``EnvHost.reset`` and ``EnvHost.step`` while installed."""

    def __init__(self):
        self.seconds = 0.0

    @contextmanager
    def installed(self):
        from spear_train.rollout.workers import EnvHost

        originals = {name: getattr(EnvHost, name) for name in ("reset", "step")}

        def timed(fn):
            def wrapper(host, *args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(host, *args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
            return wrapper

        for name, fn in originals.items():
            setattr(EnvHost, name, timed(fn))
        try:
            yield self
        finally:
            for name, fn in originals.items():
                setattr(EnvHost, name, fn)


def _episodes(episodes) -> list[tuple]:
    return [(e.traj_id, e.task_id, tuple(e.actions), e.episode_return, e.won, e.failed) for e in episodes]


def run_setting(env: str, setting: str, make_trainer, seed: int, steps: int, eval_episodes: int, out: Path) -> dict:
    """One setting's phases (evaluation, ``steps`` training steps, evaluation): seconds and episodes."""
    from spear_train.training.evaluation import eval_agent_seed, evaluate

    set_env_speedups(setting == "on")
    trainer = make_trainer(env, seed, out / f"{env}-env-{setting}")
    collect = trainer.rollouts.collect
    played: list = []

    def recording_collect(t, s):
        rollout = collect(t, s)
        played.extend(_episodes(rollout.episodes))
        return rollout

    trainer.rollouts.collect = recording_collect
    phases: dict[str, dict] = {}

    def phase(name: str, fn):
        timer = EnvTimer()
        start, cpu = time.perf_counter(), cpu_seconds()
        with timer.installed():
            value = fn()
        phases[name] = {"wall": time.perf_counter() - start, "cpu": cpu_seconds() - cpu, "env": timer.seconds}
        return value

    def evaluation():
        return evaluate(trainer.cfg, "model", trainer.policy, episodes=eval_episodes, seed=eval_agent_seed(seed))

    first = phase("eval 1", evaluation)
    for t in range(1, steps + 1):
        phase(f"step {t}", lambda t=t: trainer.train_step(t))
    last = phase("eval 2", evaluation)
    trainer.rollouts.close()
    set_env_speedups(True)
    return {"phases": phases, "episodes": _episodes(first.summaries) + played + _episodes(last.summaries),
            "success": (first.success, last.success)}


def compare_env_speedups(env: str, make_trainer, seed: int, steps: int, eval_episodes: int, out: Path,
                         order: tuple[str, ...] = SETTINGS) -> dict:
    """Both settings (in ``order``), their phases, and a check that they played identical episodes."""
    runs = {setting: run_setting(env, setting, make_trainer, seed, steps, eval_episodes, out) for setting in order}
    if runs["off"]["episodes"] != runs["on"]["episodes"]:
        diff = next(i for i, (a, b) in enumerate(zip(runs["off"]["episodes"], runs["on"]["episodes"])) if a != b)
        raise AssertionError(f"{env}: env speed-ups changed the episodes (first difference at episode {diff}: "
                             f"{runs['off']['episodes'][diff]} vs {runs['on']['episodes'][diff]})")
    return {"runs": runs, "episodes": len(runs["on"]["episodes"]), "order": order}


def report_env_speedups(env: str, r: dict, steps: int, eval_episodes: int) -> None:
    """Print wall, CPU and env seconds per phase, off vs on, and their ratios."""
    off, on = r["runs"]["off"]["phases"], r["runs"]["on"]["phases"]
    print(f"\n== {env}: env-side speed-ups off vs on (fast decoder; {eval_episodes}-episode evaluations, "
          f"{steps} training step(s); order {' then '.join(r['order'])})")
    print(f"{'seconds':<26}{'wall off':>10}{'on':>8}{'off/on':>8}{'CPU off':>10}{'on':>8}{'off/on':>8}"
          f"{'env off':>10}{'on':>8}")
    rows = [(name, off[name], on[name]) for name in off]
    step_names = [n for n in off if n.startswith("step")]
    rows.append(("training step (mean)", *({k: sum(p[n][k] for n in step_names) / len(step_names)
                                             for k in ("wall", "cpu", "env")} for p in (off, on))))
    for name, a, b in rows:
        print(f"{name:<26}{a['wall']:>10.1f}{b['wall']:>8.1f}{a['wall'] / b['wall']:>7.2f}x"
              f"{a['cpu']:>10.1f}{b['cpu']:>8.1f}{a['cpu'] / b['cpu']:>7.2f}x{a['env']:>10.1f}{b['env']:>8.1f}")
    succ = r["runs"]["on"]["success"]
    print(f"identical episodes off vs on: {r['episodes']} compared (success eval 1 {succ[0]:.3f}, eval 2 {succ[1]:.3f})")
