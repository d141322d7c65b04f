"""WebShop's SFT data: the imitable expert, its cache key, and the repeated first (search) turn."""

from __future__ import annotations

import pytest

from spear_train.sft.data import expert_examples, expert_source
from spear_train.sft.recipe import default_recipe
from spear_train.sft.trainer import data_cache_file

WEBSHOP = "spear/WebShop-v0"


def test_first_turn_copies_repeat_each_won_episodes_first_turn(toy_env_id):
    once, summary = expert_examples(toy_env_id, 5, 0, progress=False)
    thrice, summary3 = expert_examples(toy_env_id, 5, 0, progress=False, first_turn_copies=3)
    assert summary.won == summary3.won == 5
    assert len(thrice) == len(once) + 2 * summary.won == summary3.examples
    first_turns = once[::2]  # the toy expert wins in two turns
    assert sum(ex in first_turns for ex in thrice) == 3 * len(first_turns)
    with pytest.raises(ValueError, match="first_turn_copies"):
        expert_examples(toy_env_id, 1, 0, progress=False, first_turn_copies=0)


def test_webshop_data_comes_from_the_visible_buyer_and_is_cached_under_its_name():
    recipe = default_recipe(WEBSHOP)
    assert recipe.first_turn_copies == 3
    assert default_recipe("spear/ALFWorld-v0").first_turn_copies == 1
    # data played by the earlier (oracle) expert lives under another name and is never reused
    assert "visible-buyer" in data_cache_file(recipe).name
    assert "visible-buyer" not in data_cache_file(default_recipe("spear/ALFWorld-v0")).name

    source = expert_source(WEBSHOP)
    env = source.make_env("train")
    obs, info = env.reset(seed=0)
    expert = source.make_expert(env)
    search = expert(obs, info)
    assert search.startswith("search[") and "price lower than" not in search
    assert search.removeprefix("search[").removesuffix("]") in info["task"]
