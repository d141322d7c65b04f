"""The rollout loop in-process: token-exactness, lock-step groups, agents, multi-turn episodes."""

from __future__ import annotations

import pytest

from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_train.policy.generation import SamplingConfig
from spear_train.rollout.agents import ModelAgent, make_agent
from spear_train.rollout.collector import RolloutCollector, RolloutConfig
from spear_train.rollout.workers import EXPERT_ENV_KWARGS, EnvSpec, make_env_pool

from .toy import CHAT_ID, GUESS_ID

GUESS = EnvSpec(GUESS_ID, imports=("tests.rollout.toy",))


class CountingAgent:
    """Wraps an agent and records how many turns each call asked for."""

    def __init__(self, inner):
        self.inner, self.batch_sizes, self.turns = inner, [], []
        self.policy = getattr(inner, "policy", None)

    def act(self, turns, pool):
        self.batch_sizes.append(len(turns))
        self.turns.append(list(turns))
        return self.inner.act(turns, pool)


def check_token_exact(rollout, policy, received_actions, n_slots, group_size, builder):
    """Every sample's ids are the chat-template encoding / the sampled ids, and the env got their parse."""
    tok = policy.tokenizer
    by_traj: dict[str, list] = {}
    for s in rollout.samples:
        by_traj.setdefault(s.traj_id, []).append(s)
    assert len(by_traj) == n_slots
    for slot, episode in enumerate(rollout.episodes):
        samples = by_traj[episode.traj_id]
        assert [s.step for s in samples] == list(range(len(samples)))
        assert [s.action for s in samples] == received_actions[slot] == episode.actions
        for s in samples:
            assert tok.decode(s.response_ids, skip_special_tokens=True) == s.response_text
            assert builder.parse(s.response_text).action == s.action
            assert len(s.logprobs) == len(s.response_ids) == len(s.loss_mask) > 0
    for s in rollout.samples:
        # prompt ids == the chat template's own tokenization of the messages the builder renders
        expected = tok.apply_chat_template(s._messages, add_generation_prompt=True, tokenize=True)
        expected = expected["input_ids"] if hasattr(expected, "keys") else expected
        assert s.prompt_ids == list(expected)
        assert s.prompt_ids == tok.encode(tok.apply_chat_template(s._messages, add_generation_prompt=True,
                                                                  tokenize=False), add_special_tokens=False)
    groups = {}
    for e in rollout.episodes:
        groups.setdefault(e.group_id, []).append(e)
    assert len(groups) == n_slots // group_size and all(len(g) == group_size for g in groups.values())
    assert len({e.traj_id for e in rollout.episodes}) == n_slots


def attach_messages(rollout, agent):
    """Give each sample the messages its prompt was built from (captured from the agent's turns)."""
    by_prompt = {}
    for turns in agent.turns:
        for t in turns:
            by_prompt.setdefault(t.slot, []).append(t.messages)
    for slot, episode in enumerate(rollout.episodes):
        samples = [s for s in rollout.samples if s.traj_id == episode.traj_id]
        for s, messages in zip(samples, by_prompt[slot]):
            s._messages = messages


def test_model_rollout_is_token_exact_in_process(tiny_policy):
    pool = make_env_pool(GUESS, 8, env_workers=0)
    agent = CountingAgent(ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=16), seed=0))
    rollout = RolloutCollector(GUESS_ID, agent, pool, RolloutConfig(group_size=4)).collect([3, 4], tag="t1/")
    attach_messages(rollout, agent)
    check_token_exact(rollout, tiny_policy, pool.received_actions(), 8, 4, prompt_builder_for(GUESS_ID))
    # finished envs stop consuming generation: each call asks only for the still-active slots
    lengths = [e.length for e in rollout.episodes]
    assert agent.batch_sizes == [sum(length > k for length in lengths) for k in range(max(lengths))]
    assert rollout.env_steps == sum(lengths) == len(rollout.samples)
    assert rollout.generated_tokens == sum(len(s.response_ids) for s in rollout.samples)
    assert all(s.group_id.startswith("t1/g") and "guess-" in s.group_id for s in rollout.samples)
    for s in rollout.samples:
        ep = next(e for e in rollout.episodes if e.traj_id == s.traj_id)
        assert (s.episode_return, s.episode_length, s.won, s.failed) == (ep.episode_return, ep.length, ep.won, False)
        assert s.done == (s.step == ep.length - 1)
        assert s.logprob_distribution == "softmax(logits / 1)"


def test_groups_share_the_task_and_constrained_model_only_takes_admissible_actions(tiny_policy):
    pool = make_env_pool(GUESS, 8)
    agent = ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=24), constrained=True, seed=1)
    rollout = RolloutCollector(GUESS_ID, agent, pool, RolloutConfig(group_size=4)).collect([0, 1])
    for g in range(2):
        assert len({e.task_id for e in rollout.episodes[4 * g:4 * g + 4]}) == 1
    assert all(s.action_admissible and s.action.startswith("guess ") for s in rollout.samples)
    assert all("masked to admissible" in s.logprob_distribution for s in rollout.samples)


@pytest.mark.parametrize("kind", ["expert", "random"])
def test_expert_and_random_agents_use_the_same_path(kind):
    pool = make_env_pool(GUESS, 8)
    collector = RolloutCollector(GUESS_ID, make_agent(kind, seed=7), pool, RolloutConfig(group_size=4))
    rollout = collector.collect([1, 2])
    assert rollout.env_steps == len(rollout.samples) == sum(e.length for e in rollout.episodes)
    assert all(s.action_valid for s in rollout.samples)  # both emit well-formed replies
    if kind == "expert":
        assert rollout.success_rate == 1.0 and all(e.length == 1 for e in rollout.episodes)
    else:
        again = RolloutCollector(GUESS_ID, make_agent(kind, seed=7), make_env_pool(GUESS, 8),
                                 RolloutConfig(group_size=4)).collect([1, 2])
        assert [e.actions for e in again.episodes] == [e.actions for e in rollout.episodes]
        assert all(s.prompt_ids == [] and s.response_ids == [] for s in rollout.samples)


def test_max_steps_cap_and_pool_size_mismatch():
    pool = make_env_pool(GUESS, 4)
    collector = RolloutCollector(GUESS_ID, make_agent("random", seed=0), pool, RolloutConfig(group_size=4, max_steps=1))
    rollout = collector.collect([5])
    assert all(e.length == 1 for e in rollout.episodes)
    with pytest.raises(ValueError, match="pool hosts 4"):
        collector.collect([1, 2])
    with pytest.raises(ValueError, match="unknown agent"):
        make_agent("oracle")
    with pytest.raises(ValueError, match="needs a policy"):
        make_agent("model")


def test_multi_turn_episode_is_one_sample_with_tool_tokens_masked(tiny_policy):
    tok = tiny_policy.tokenizer
    pool = make_env_pool(EnvSpec(CHAT_ID, imports=("tests.rollout.toy",)), 2)
    agent = CountingAgent(ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=10), seed=2))
    rollout = RolloutCollector(CHAT_ID, agent, pool, RolloutConfig(group_size=2)).collect([0])
    assert len(rollout.samples) == 2 and [e.length for e in rollout.episodes] == [3, 3]
    replies_per_slot = {0: [], 1: []}
    for turns in agent.turns:
        for t in turns:
            replies_per_slot[t.slot].append(t)
    for slot, s in enumerate(rollout.samples):
        assert s.num_tool_calls == 2 and len(s.loss_mask) == len(s.response_ids) == len(s.logprobs)
        turns = replies_per_slot[slot]
        # turn k>0 continued from exactly the stored ids: prompt + the response so far (never re-encoded)
        assert turns[0].context_ids is None
        for t in turns[1:]:
            assert t.context_ids[:len(s.prompt_ids)] == s.prompt_ids
            assert t.context_ids == (s.prompt_ids + s.response_ids)[:len(t.context_ids)]
        # masked runs are the tool replies: each decodes to the template's tool turn with the env's output
        runs, current, kind = [], [], None
        for tok_id, m in zip(s.response_ids, s.loss_mask):
            if m != kind and current:
                runs.append((kind, current))
                current = []
            kind = m
            current.append(tok_id)
        runs.append((kind, current))
        assert [k for k, _ in runs] == [1, 0, 1, 0, 1]
        for k, ids in runs:
            if k == 0:
                text = tok.decode(ids)
                assert "<tool_response>\nresult: " in text and text.endswith("<|im_start|>assistant\n")
            assert all(lp == 0.0 for lp, m in zip(s.logprobs, s.loss_mask) if m == 0)
        assert s.prompt_ids == tiny_policy.prompt_ids([{"role": "user", "content": "Problem: what is 6 * 7?"}])


def test_an_env_that_raises_fails_only_its_own_episode():
    pool = make_env_pool(GUESS, 4)

    def crash(action):
        raise RuntimeError("engine crashed")

    pool.host.envs[1].unwrapped._step = crash
    rollout = RolloutCollector(GUESS_ID, make_agent("random", seed=0), pool, RolloutConfig(group_size=4)).collect([0])
    assert [e.failed for e in rollout.episodes] == [False, True, False, False]
    assert rollout.episodes[1].failure == "step failed: RuntimeError: engine crashed"
    assert rollout.episodes[1].length == 0 and all(e.length >= 1 for e in rollout.episodes if not e.failed)


def test_webshop_scripted_buyer_through_the_rollout_path():
    import spear_envs

    env_id = "spear/WebShop-v0"
    if env_id not in spear_envs.SPEAR_ENVS:
        pytest.skip(f"{env_id} is not registered in this checkout")
    pool = make_env_pool(EnvSpec(env_id), 4)
    rollout = RolloutCollector(env_id, make_agent("expert"), pool, RolloutConfig(group_size=2)).collect([0, 1])
    assert rollout.success_rate == 1.0 and not rollout.failed_episodes
    assert pool.received_actions()[0][0].startswith("search[") and pool.received_actions()[0][-1] == "click[buy now]"


def test_alfworld_expert_and_random_reference_agents_through_the_rollout_path():
    import spear_envs

    env_id = "spear/ALFWorld-v0"
    if env_id not in spear_envs.SPEAR_ENVS:
        pytest.skip(f"{env_id} is not registered in this checkout")
    spec = EnvSpec(env_id, kwargs={"max_steps": 30, "scene_size": "small", "num_games": 4, **EXPERT_ENV_KWARGS[env_id]})
    pool = make_env_pool(spec, 8)
    expert = RolloutCollector(env_id, make_agent("expert"), pool, RolloutConfig(group_size=4)).collect([0, 1])
    assert expert.success_rate == 1.0 and all(s.action_valid for s in expert.samples)
    assert [s.reward for s in expert.samples if s.done] == [10.0] * 8  # ALFWorld: 10 on the winning step
    random_play = RolloutCollector(env_id, make_agent("random", seed=0), pool, RolloutConfig(group_size=4)).collect([0, 1])
    assert random_play.success_rate < expert.success_rate
    assert all(s.action_admissible for s in random_play.samples)  # it picks from the admissible list


class ForcedSolverAgent:
    """The tiny model, its decoding forced (a one-path trie) onto the math scripted solver's turns.

    The ids are really sampled by the model (log-prob 0 on forced tokens), so the math env's multi-turn
    path runs on real generated ids, with a tool call on turn 1 and a boxed answer on turn 2.
    """

    def __init__(self, policy):
        from spear_train.policy.generation import HFGenerator

        self.policy, self.generator = policy, HFGenerator(policy.model, policy.tokenizer)

    def act(self, turns, pool):
        from spear_train.policy.constrained import TokenTrie
        from spear_train.rollout.agents import Reply

        tok, stop = self.policy.tokenizer, self.generator.stop_ids[0]
        wanted = pool.expert_actions([t.slot for t in turns])
        prompts = [t.context_ids if t.context_ids is not None else self.policy.prompt_ids(t.messages) for t in turns]
        tries = [TokenTrie([tok.encode(wanted[t.slot], add_special_tokens=False) + [stop]]) for t in turns]
        batch = self.generator.generate(prompts, SamplingConfig(max_new_tokens=400), tries=tries, seed=0)
        return [Reply(tok.decode(g.token_ids, skip_special_tokens=True), tok.decode(g.token_ids), list(p),
                      g.token_ids, g.logprobs, not g.finished, batch.distribution)
                for p, g in zip(prompts, batch.generations)]


def test_math_tool_episodes_are_one_sample_each_with_sandbox_output_masked(tiny_policy):
    import spear_envs

    env_id = "spear/MathTool-v0"
    if env_id not in spear_envs.SPEAR_ENVS:
        pytest.skip(f"{env_id} is not registered in this checkout")
    tok = tiny_policy.tokenizer
    pool = make_env_pool(EnvSpec(env_id), 2)
    expert = RolloutCollector(env_id, make_agent("expert"), pool, RolloutConfig(group_size=2)).collect([3])
    assert all(e.won and e.length == 2 for e in expert.episodes)  # the scripted solver through the same path
    rollout = RolloutCollector(env_id, ForcedSolverAgent(tiny_policy), pool, RolloutConfig(group_size=2)).collect([3])
    assert len(rollout.samples) == 2 and all(e.won and not e.failed for e in rollout.episodes)
    for s, turns in zip(rollout.samples, pool.received_actions()):
        assert s.num_tool_calls == 1 and s.reward == rollout.episodes[0].episode_return > 0
        model_ids = [i for i, m in zip(s.response_ids, s.loss_mask) if m == 1]
        tool_ids = [i for i, m in zip(s.response_ids, s.loss_mask) if m == 0]
        assert tok.decode(model_ids, skip_special_tokens=True) == "".join(turns)  # what the env received
        tool_text = tok.decode(tool_ids)
        assert "<tool_response>" in tool_text and tool_text.endswith("<|im_start|>assistant\n")
        printed = turns[1].split("printed ")[1].split(",")[0]
        assert printed in tool_text  # the sandbox's real output, masked out of the loss
        first_turn = prompt_builder_for(env_id).messages(AgentMemory("", [s.anchor_obs]))
        assert s.prompt_ids == tiny_policy.prompt_ids(first_turn)


def test_a_math_episode_out_of_response_budget_is_ended_in_the_env_as_a_wrong_answer(tiny_policy):
    """The budget runs out after the first (tool-call) turn: the harness plays the builder's budget-end
    turn, so the env ends the episode (terminated, -1) and its record is finished, not cut."""
    import spear_envs

    env_id = "spear/MathTool-v0"
    if env_id not in spear_envs.SPEAR_ENVS:
        pytest.skip(f"{env_id} is not registered in this checkout")
    end = prompt_builder_for(env_id).budget_end_action
    assert end == ""
    pool = make_env_pool(EnvSpec(env_id, record=True), 2)
    rollout = RolloutCollector(env_id, ForcedSolverAgent(tiny_policy), pool,
                               RolloutConfig(group_size=2, max_response_tokens=10)).collect([3])
    records = pool.episode_records()
    for e, s, received, record in zip(rollout.episodes, rollout.samples, pool.received_actions(), records):
        assert e.ended_by_budget and not e.won and not e.failed
        assert e.length == 2 and e.actions[-1] == end and received[-1] == end and "<tool_call>" in received[0]
        assert e.episode_return == s.reward == -1.0  # as a wrong final answer, never better than one
        assert s.num_tool_calls == 1 and s.action == end
        assert record.steps[-1].terminated and [st.action for st in record.steps] == received
    # an episode the env ends within the budget is untouched (the expert's two turns, won)
    full = RolloutCollector(env_id, ForcedSolverAgent(tiny_policy), pool, RolloutConfig(group_size=2)).collect([3])
    assert all(e.won and not e.ended_by_budget and e.length == 2 for e in full.episodes)


def test_constrained_webshop_rollout_searches_a_task_prefix_then_clicks_only_admissible_items():
    """The shipped WebShop policy under constrained decoding: the search turn (template action) searches a
    word prefix of the task, every turn on a results or item page is one of the page's clickables."""
    from spear_train.policy.search_queries import task_prefix_queries
    from spear_train.policy.loading import load_policy

    policy = load_policy("spear-tiny-webshop", device="cpu")
    pool = make_env_pool(EnvSpec("spear/WebShop-v0"), 4)
    agent = ModelAgent(policy, SamplingConfig(max_new_tokens=64), constrained=True, seed=0)
    collector = RolloutCollector("spear/WebShop-v0", agent, pool, RolloutConfig(group_size=2, max_steps=4))
    rollout = collector.collect([0, 1])
    by_traj: dict[str, list] = {}
    for s in rollout.samples:
        by_traj.setdefault(s.traj_id, []).append(s)
    after_search = [b for samples in by_traj.values() for a, b in zip(samples, samples[1:])
                    if a.action.startswith("search[") and a.action_admissible]
    assert after_search, "the shipped policy should open with an accepted search"
    assert all(s.action.startswith("click[") and s.action_admissible for s in after_search)
    assert all("masked to admissible" in s.logprob_distribution for s in after_search)
    first_turns = [samples[0] for samples in by_traj.values()]
    assert all("masked to admissible" in s.logprob_distribution for s in first_turns)
    tasks = {e.traj_id: e.task for e in rollout.episodes}
    for s in first_turns:
        prefixes = [q.lower() for q in task_prefix_queries(tasks[s.traj_id])]
        assert s.action.startswith("search[") and s.action[len("search["):-1].lower() in prefixes, s.action
