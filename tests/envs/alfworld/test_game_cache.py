"""Each ALFWorld game is parsed and translated once per process (spear_envs.alfworld.fast_engine's game
cache): episodes played from a warm cache must be identical to episodes played from a cold one, and playing
must never write into what the cache holds."""

from __future__ import annotations

import random

import pytest
from textworld.envs.pddl import logic as pddl_logic

from spear_envs.alfworld import fast_engine, sas_store
from spear_envs.alfworld.fast_logic import parse_game_logic

from .conftest import small_env

GAMES = (0, 1, 2, 3, 4, 5)  # one of each task type


@pytest.fixture(autouse=True)
def default_cache(tmp_path, monkeypatch):
    """Every test starts and ends with the engine's default, empty caches (the on-disk SAS store in a
    private, empty folder, so "cold" means translated here)."""
    monkeypatch.setattr(sas_store, "store_dir", lambda: tmp_path / "sas")
    fast_engine.configure_game_cache()
    yield
    fast_engine.configure_game_cache()


def episode(env, index: int, seed: int, steps: int) -> list:
    """Reset to game ``index`` and play ``steps`` seeded moves (expert, admissible and unknown commands);
    everything the env returns is recorded."""
    rng = random.Random(seed)
    obs, info = env.reset(seed=seed, options={"game_index": index})
    out = [(obs, info)]
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.4:
            action = info["expert_action"]
        elif roll < 0.9:
            action = rng.choice(info["admissible_actions"])
        else:
            action = "take the moon"
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((action, obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return out


def cold_episode(index: int, seed: int, steps: int, **kwargs) -> list:
    fast_engine.clear_caches()
    return episode(small_env(expert="handcoded", **kwargs), index, seed, steps)


def test_rule_reusing_parse_builds_the_stock_game_logic():
    env = small_env()
    for index in GAMES:
        game = env.game(index)
        stock = pddl_logic.GameLogic(domain=game["pddl_domain"], grammar=game["grammar"])
        fast = parse_game_logic(game["pddl_domain"], game["grammar"])
        assert repr(dict(fast.grammar._rules)) == repr(dict(stock.grammar._rules)), game["game_id"]
        assert {k: vars(a) for k, a in fast.actions.items()} == {k: vars(a) for k, a in stock.actions.items()}
        # hand-outs are fresh objects: the memo's symbols are never the grammar's
        first, again = parse_game_logic(game["pddl_domain"], game["grammar"]), fast
        assert first.grammar._rules["intro"][0].rhs[0] is not again.grammar._rules["intro"][0].rhs[0]


def test_warm_cache_plays_the_cold_transcripts_in_one_env_and_across_envs():
    cold = {index: cold_episode(index, 100 + index, 12) for index in GAMES}
    fast_engine.clear_caches()
    first, second = small_env(expert="handcoded"), small_env(expert="handcoded")
    for index in GAMES:  # fills the cache
        assert episode(first, index, 100 + index, 12) == cold[index], index
    for index in reversed(GAMES):  # the same games again, in the same env and in a second env
        assert episode(first, index, 100 + index, 12) == cold[index], index
        assert episode(second, index, 100 + index, 12) == cold[index], index
    assert episode(first, 2, 102, 12) == episode(first, 2, 102, 12) == cold[2]  # one game reset twice in a row


def test_shuffled_names_and_the_previous_cache_setting_give_the_same_transcripts():
    cold = [cold_episode(index, 7, 10, shuffle_names=True) for index in GAMES[:3]]
    env = small_env(expert="handcoded", shuffle_names=True)
    assert [episode(env, index, 7, 10) for index in GAMES[:3]] == cold
    fast_engine.configure_game_cache(64, 256, reuse_rule_parses=False)  # the engine before the game cache
    assert [episode(env, index, 7, 10) for index in GAMES[:3]] == cold


def test_playing_a_game_to_the_end_leaks_nothing_into_the_cache():
    for index in (0, 4):
        cold = cold_episode(index, 3, 0)[0]
        env = small_env(expert="handcoded")
        obs, info = env.reset(seed=3, options={"game_index": index})
        done, steps = False, 0
        while not done:  # the expert wins: every object moved, opened, heated... is changed state
            obs, reward, terminated, truncated, info = env.step(info["expert_action"])
            done, steps = terminated or truncated, steps + 1
        assert info["won"] and steps > 2
        assert episode(env, index, 3, 0)[0] == cold
        assert episode(small_env(expert="handcoded"), index, 3, 0)[0] == cold


def test_cache_sizes_are_checked():
    for bad in (0, -1, 1.5, True, "64"):
        with pytest.raises(ValueError, match="positive int"):
            fast_engine.configure_game_cache(bad)
    for bad in ("no", 0, None):
        with pytest.raises(ValueError, match="sas_store_enabled must be True or False"):
            fast_engine.configure_game_cache(sas_store_enabled=bad)
