"""spear/WebShop-v0 behaviour: observations, actions, rewards, sharing, and the scripted expert."""

from __future__ import annotations

import pickle
from html.parser import HTMLParser

import gymnasium as gym
import pytest

import spear_envs  # noqa: F401
from spear_envs.agent_io.prompts import AgentMemory, WebshopPrompt
from spear_envs.webshop.scripted_buyer import expert_actions, run_expert_episode


def _open_target(env, goal_index=0):
    _, info = env.reset(seed=0, options={"goal_index": goal_index})
    goal = env.goal
    env.step(f"search[{goal.name}]")
    pos = [env.catalog.asins[i] for i in env.shop.state.results].index(goal.asin)
    for _ in range(pos // 10):
        env.step("click[next >]")
    return env.step(f"click[{goal.asin.lower()}]")


def test_registered_with_the_verl_step_limit():
    env = gym.make("spear/WebShop-v0")
    assert env.spec.max_episode_steps == 15 and env.unwrapped.max_steps == 15


def test_text_observations_follow_upstream_sep_format(make_env):
    env = make_env(split="test")
    obs, info = env.reset(seed=1)
    assert obs == f"WebShop [SEP] Instruction: [SEP] {info['task']} [SEP] Search"
    assert info["admissible_actions"] == ["search[<query>]"]
    obs, *_, info = env.step("search[running shoes]")
    parts = obs.split(" [SEP] ")
    assert parts[:5] == ["Instruction:", info["task"], "Back to Search", parts[3], "Next >"]
    assert parts[3].startswith("Page 1 (Total results: ")
    assert "click[next >]" in info["admissible_actions"] and "search[<query>]" not in info["admissible_actions"]
    obs, *_, info = env.step("click[next >]")
    assert "Page 2" in obs and "< Prev" in obs and "click[< prev]" in info["admissible_actions"]
    obs, *_ = env.step(info["admissible_actions"][-3].upper())  # clicks are case-insensitive
    assert "Rating: N.A." in obs and obs.endswith("Description [SEP] Features [SEP] Reviews [SEP] Buy Now")


def test_webshop_prompt_extracts_the_instruction(make_env):
    env = make_env()
    obs, info = env.reset(seed=2)
    memory = AgentMemory.start(obs, info)
    obs2, *_, info2 = env.step("search[shoes]")
    memory.record("search[shoes]", obs2, info2)
    text = WebshopPrompt().messages(memory)[0]["content"]
    assert info["task"] in text and "'Back to Search'" in text and "'click[next >]'" in text
    assert f"'{info['task']}'" not in text  # the instruction is shown as the task, not as a page segment


def test_invalid_actions_are_answered_not_raised(make_env):
    env = make_env()
    obs, _ = env.reset(seed=0)
    for bad in ("click[search]", "buy it", "click[buy now]", "search[]", "click[]", "search[x"):
        obs2, reward, term, trunc, info = env.step(bad)
        assert obs2 == obs and reward == 0.0 and not term and info["action_valid"] is False
        assert info["error"]
    _, *_, info = env.step("search[shoes]")
    assert info["action_valid"]


def test_search_is_accepted_from_an_item_page_and_sub_pages_round_trip(make_env):
    env = make_env()
    obs, *_, info = _open_target(env)
    assert info["page"] == "item"
    obs, *_, info = env.step("click[features]")
    assert info["page"] == "sub" and info["admissible_actions"] == ["click[back to search]", "click[< prev]"]
    obs, *_, info = env.step("click[< prev]")
    assert info["page"] == "item"
    obs, *_, info = env.step("search[garden hose]")
    assert info["page"] == "results" and info["action_valid"]


def test_buying_the_target_with_goal_options_scores_one_and_pays_10(make_env):
    env = make_env()
    _open_target(env, 3)
    for value in env.goal.option_values():
        _, *_, info = env.step(f"click[{value}]")
        assert info["action_valid"]
    _, reward, term, _, info = env.step("click[buy now]")
    assert term and reward == 10.0 and info["score"] == 1.0 and info["won"]
    assert info["reward_info"]["r_type"] == 1.0


def test_missing_options_lower_the_score_and_score_mode_returns_it(make_env):
    env = make_env(reward_mode="score")
    goal_index = next(i for i in range(50) if env.catalog.goals("synthetic", "train")[i].goal_options)
    _open_target(env, goal_index)
    _, reward, term, _, info = env.step("click[buy now]")
    assert term and 0 < reward < 1 and reward == info["score"] and not info["won"]
    env = make_env(success_reward=2.5)
    _open_target(env, goal_index)
    for value in env.goal.option_values():
        env.step(f"click[{value}]")
    assert env.step("click[buy now]")[1] == 2.5


def test_bad_config_is_rejected(make_env):
    with pytest.raises(ValueError, match="observation_mode"):
        make_env(observation_mode="url")
    with pytest.raises(ValueError, match="split"):
        make_env(split="dev")
    with pytest.raises(ValueError, match="goals"):
        make_env(goals="imaginary")
    env = make_env()
    with pytest.raises(IndexError, match="out of range"):
        env.reset(options={"goal_index": 10**9})


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.texts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("head", "script", "style", "footer")

    def handle_endtag(self, tag):
        self._skip -= tag in ("head", "script", "style", "footer")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def test_html_text_and_text_rich_render_the_same_page(make_env):
    text_env, html_env, rich_env = make_env(), make_env(observation_mode="html"), make_env(observation_mode="text_rich")
    actions = None
    for env in (text_env, html_env, rich_env):
        _open_target(env, 3)
    value = text_env.goal.option_values()[0] if text_env.goal.option_values() else None
    for env in (text_env, html_env, rich_env):
        if value:
            env.step(f"click[{value}]")
    text = text_env.shop.text()
    parser = _VisibleText()
    parser.feed(html_env.shop.html())
    assert " [SEP] ".join(parser.texts) == text
    rich = rich_env.shop.text_rich()
    assert "[button] Buy Now [button_]" in rich
    if value:
        assert rich.startswith(f"You have clicked {value}.") and f"[clicked button] {value} [clicked button_]" in rich
    del actions


def test_envs_share_one_catalog_and_pickle_mid_episode(make_env):
    a, b = make_env(), make_env(split="test")
    assert a.catalog is b.catalog and a.catalog.search is b.catalog.search
    _open_target(a, 1)
    c = pickle.loads(pickle.dumps(a))
    assert c.catalog is a.catalog and c.shop.text() == a.shop.text()
    assert c.step("click[buy now]")[4]["score"] == a.step("click[buy now]")[4]["score"]


def test_expert_wins_every_eval_goal_within_the_step_limit(make_env):
    env = make_env(split="eval")
    goals = env.catalog.goals("synthetic", "eval")
    assert len(goals) > 100
    for i in range(len(goals)):
        score, info = run_expert_episode(env, seed=0, options={"goal_index": i})
        assert score == 1.0 and info["won"], (i, info.get("reward_info"))
    human = make_env(goals="human", split="eval")
    for i in range(len(human.catalog.goals("human", "eval"))):
        assert run_expert_episode(human, seed=0, options={"goal_index": i})[0] == 1.0
    assert list(expert_actions(env))  # generator usable directly
