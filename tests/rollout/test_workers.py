"""Env workers as Ray actors: same results as in-process, token-exact model rollouts, dead-worker recovery.

One Ray session serves the whole module (starting Ray takes seconds).
"""

from __future__ import annotations

import os
import signal

import pytest

from spear_envs.agent_io import prompt_builder_for
from spear_train.policy.generation import SamplingConfig
from spear_train.rollout.agents import ModelAgent, make_agent
from spear_train.rollout.collector import RolloutCollector, RolloutConfig
from spear_train.rollout.workers import EnvSpec, RayEnvPool, _slices, make_env_pool

from .conftest import start_ray
from .test_collector import CountingAgent, attach_messages, check_token_exact
from .toy import GUESS_ID

GUESS = EnvSpec(GUESS_ID, imports=("tests.rollout.toy",))
ALFWORLD = "spear/ALFWorld-v0"
SMALL_ALFWORLD = {"scene_size": "small", "num_games": 4}


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module (starting Ray takes seconds)."""
    ray = start_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_pool(ray_session):
    """A 2-actor pool of 8 toy-env slots shared by the module's tests (actor start-up costs seconds)."""
    pool = make_env_pool(GUESS, 8, env_workers=2, worker_cpus=0.5)
    yield pool
    pool.close()


def test_slices_cover_the_batch():
    assert _slices(8, 3) == [range(0, 3), range(3, 6), range(6, 8)]
    with pytest.raises(ValueError, match="env workers"):
        _slices(2, 3)
    with pytest.raises(ValueError, match="env-workers"):
        make_env_pool(GUESS, 2, env_workers=-1)


def test_ray_pool_matches_in_process_pool(ray_pool):
    assert isinstance(ray_pool, RayEnvPool) and len(set(ray_pool.worker_pids())) == 2
    assert os.getpid() not in ray_pool.worker_pids()
    runs = []
    for pool in (ray_pool, make_env_pool(GUESS, 8)):
        collector = RolloutCollector(GUESS_ID, make_agent("random", seed=3), pool, RolloutConfig(group_size=4))
        rollout = collector.collect([2, 9])
        runs.append(([e.actions for e in rollout.episodes], [s.reward for s in rollout.samples]))
        assert pool.received_actions() == runs[-1][0]
    assert runs[0] == runs[1]


def test_model_rollout_through_ray_workers_is_token_exact(ray_pool, tiny_policy):
    agent = CountingAgent(ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=16), seed=4))
    rollout = RolloutCollector(GUESS_ID, agent, ray_pool, RolloutConfig(group_size=4)).collect([3, 4])
    attach_messages(rollout, agent)
    check_token_exact(rollout, tiny_policy, ray_pool.received_actions(), 8, 4, prompt_builder_for(GUESS_ID))
    assert not rollout.failed_episodes


@pytest.mark.parametrize("env_id", [ALFWORLD, "spear/WebShop-v0"])
def test_real_env_rollout_2x4_through_ray_workers_is_token_exact(ray_session, tiny_policy, env_id):
    import spear_envs

    if env_id not in spear_envs.SPEAR_ENVS:
        pytest.skip(f"{env_id} is not registered in this checkout")
    kwargs = {"max_steps": 3, **SMALL_ALFWORLD} if env_id == ALFWORLD else {"max_steps": 3}
    pool = make_env_pool(EnvSpec(env_id, kwargs=kwargs), 8, env_workers=2, worker_cpus=0.5)
    try:
        agent = CountingAgent(ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=16), seed=0))
        rollout = RolloutCollector(env_id, agent, pool, RolloutConfig(group_size=4)).collect([0, 1])
        attach_messages(rollout, agent)
        check_token_exact(rollout, tiny_policy, pool.received_actions(), 8, 4, prompt_builder_for(env_id))
        assert not rollout.failed_episodes
        assert all(e.length == 3 or e.won for e in rollout.episodes)  # the env's own step cap ended them
        for g in range(2):  # copies of a group play the same game
            assert len({s.anchor_obs for s in rollout.samples if s.group_id == rollout.episodes[4 * g].group_id
                        and s.step == 0}) == 1
    finally:
        pool.close()


class KillingAgent:
    """Random agent that SIGKILLs env worker 0's process just before the env step of call ``at_call``."""

    def __init__(self, pool, at_call: int):
        self.inner, self.pool, self.at_call, self.calls = make_agent("random", seed=0), pool, at_call, 0
        self.active_at_kill: list[int] = []

    def act(self, turns, pool):
        if self.calls == self.at_call:
            os.kill(self.pool.worker_pids()[0], signal.SIGKILL)
            self.active_at_kill = [t.slot for t in turns]
        self.calls += 1
        return self.inner.act(turns, pool)


def test_killed_worker_is_restarted_and_its_episodes_are_marked_failed(ray_pool):
    pool = ray_pool
    # runs last in this module: it replaces worker 0 of the shared pool
    old_pid = pool.worker_pids()[0]
    agent = KillingAgent(pool, at_call=1)  # after one env step: episodes are mid-way
    collector = RolloutCollector(GUESS_ID, agent, pool, RolloutConfig(group_size=4))
    rollout = collector.collect([1, 2])
    assert len(rollout.episodes) == 8  # nothing lost
    hit = [i for i in agent.active_at_kill if i < 4]  # worker 0 hosted slots 0..3
    assert hit, "seeded random play keeps some of worker 0's episodes running after step 1"
    failed = [e.traj_id for e in rollout.failed_episodes]
    assert failed == [rollout.episodes[i].traj_id for i in hit]
    assert all("env worker 0 died" in e.failure and e.length == 1 for e in rollout.failed_episodes)
    assert all(not e.failed for e in rollout.episodes[4:]) and all(e.length >= 1 for e in rollout.episodes)
    assert all(s.failed for s in rollout.samples if s.traj_id in failed)
    assert pool.restarts == 1 and pool.worker_pids()[0] != old_pid
    # the restarted worker serves the next rollout normally
    collector.agent = make_agent("expert")
    again = collector.collect([1, 2])
    assert not again.failed_episodes and again.success_rate == 1.0
