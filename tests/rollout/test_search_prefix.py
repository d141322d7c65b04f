"""Constrained decoding of WebShop's search turn: with the task given, the query is a word prefix of it."""

from __future__ import annotations

import pytest

from spear_train.policy.constrained import action_token_sequences
from spear_train.policy.search_queries import task_prefix_queries, turn_trie
from spear_train.policy.generation import SamplingConfig

TASK = "Find me tea bags with flavor: green, and price lower than 40.00 dollars"


def test_task_prefix_queries():
    assert task_prefix_queries("Find me tea, and price") == [
        "Find", "Find me", "Find me tea", "Find me tea, and", "Find me tea, and price"]
    queries = task_prefix_queries(TASK)
    assert "Find me tea bags with flavor: green" in queries  # the visible buyer's query (no price clause)
    assert queries[-1] == TASK and len(queries) == len(TASK.split())
    assert task_prefix_queries("") == []


def test_search_template_with_a_task_becomes_the_task_prefixes(tiny_policy):
    tok = tiny_policy.tokenizer
    trie = turn_trie(tok, ["search[<query>]", "click[b0abc]"], 0, task=TASK)
    expected = ["click[b0abc]"] + [f"search[{q}]" for q in task_prefix_queries(TASK)]
    for seq in action_token_sequences(tok, expected, 0):
        assert trie.allowed(seq) == []  # every candidate is a complete path
    on = tok.encode("<think></think><action>search[Find me", add_special_tokens=False)
    assert trie.allowed(on)  # a prefix of the task's words: on the trie
    off = tok.encode("<think></think><action>search[Find me coffee]</action>", add_special_tokens=False)
    assert trie.allowed(off) is None  # a word the task does not hold leaves the trie
    # no task, or a template other than search: free text as before
    assert turn_trie(tok, ["search[<query>]"], 0) is None
    assert turn_trie(tok, ["ask[<question>]"], 0, task=TASK) is None


@pytest.mark.parametrize("backend", ["fast", "hf"])
def test_model_agent_searches_a_prefix_of_the_task(tiny_policy, backend):
    from spear_envs.agent_io.parsing import parse_action
    from spear_train.rollout.agents import ModelAgent, Turn

    messages = [{"role": "user", "content": "Your task: " + TASK}]
    turns = [Turn(i, messages, ["search[<query>]"], task=TASK) for i in range(6)]
    agent = ModelAgent(tiny_policy, SamplingConfig(temperature=1.0, max_new_tokens=64), constrained=True,
                       seed=1, decode_backend=backend)
    for reply in agent.act(turns):
        action, valid = parse_action(reply.text, 30)
        assert valid and not reply.truncated, reply.text
        assert action.startswith("search[") and action[len("search["):-1] in [q.lower() for q in task_prefix_queries(TASK)]
