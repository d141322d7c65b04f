"""The memoised engine must give byte-identical transcripts to the stock textworld engine."""

from __future__ import annotations

import random

import pytest

from spear_envs.alfworld.engine import AlfredEngine
from spear_envs.alfworld.game_generator import TASK_TYPES, GameSpec, load_or_generate


def transcript(game: dict, fast: bool, n_steps: int, seed: int) -> list:
    """Reset twice and play a random mix of admissible and inadmissible commands; record everything."""
    rng = random.Random(seed)
    engine = AlfredEngine(fast=fast, facts=True)
    engine.load(game)
    out = []
    for episode in range(2):
        state = engine.reset(shuffle_seed=None if episode == 0 else seed)
        out.append((state["feedback"], state["admissible_commands"], state["won"]))
        for _ in range(n_steps):
            command = rng.choice(state["admissible_commands"]) if rng.random() < 0.85 else "take the moon"
            state = engine.step(command)
            facts = sorted(map(str, state["facts"]))
            out.append((command, state["feedback"], state["admissible_commands"], state["won"], facts))
    return out


def _games(n_per_type: int, scene_size: str) -> list[dict]:
    return [load_or_generate(GameSpec("train", scene_size, t, i)) for i in range(n_per_type) for t in TASK_TYPES]


def test_fast_engine_matches_stock_on_every_task_type():
    for k, game in enumerate(_games(2, "small")):
        assert transcript(game, True, 12, k) == transcript(game, False, 12, k), game["game_id"]


def test_fast_engine_matches_stock_on_a_real_game(real_data_dir):
    from spear_envs.alfworld.real_data import find_real_games, load_real_game

    games = find_real_games(real_data_dir, "valid_seen")
    for k in (0, len(games) // 2):
        game = load_real_game(games[k])
        assert transcript(game, True, 10, k) == transcript(game, False, 10, k), game["game_id"]


@pytest.mark.slow
def test_fast_engine_matches_stock_on_50_games():
    games = _games(5, "small") + _games(4, "medium")[:20]
    assert len(games) == 50
    for k, game in enumerate(games):
        assert transcript(game, True, 25, k) == transcript(game, False, 25, k), game["game_id"]
