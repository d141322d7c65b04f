"""The seeded game generator: format, solvability, determinism, splits, scene sizes, disk cache."""

from __future__ import annotations

import json
import random

import pytest

from spear_envs.alfworld import game_generator as gen
from spear_envs.alfworld.game_generator import SCENE_SIZES, SPLITS, TASK_TYPES, GameSpec


def test_every_task_type_generates_a_solvable_game_in_upstream_format():
    for task_type in TASK_TYPES:
        game = gen.generate_game(GameSpec("train", "small", task_type, 0))
        assert {"pddl_domain", "grammar", "pddl_problem", "solvable", "walkthrough"} <= set(game)
        assert game["solvable"] is True and game["traj_data"]["task_type"] == task_type
        assert "UNKNOWN GOAL" not in game["grammar"]
        assert gen.replays_to_win(game, game["walkthrough"])
        assert not gen.replays_to_win(game, game["walkthrough"][:-1])  # the goal is not reached early


def test_generation_is_deterministic():
    spec = GameSpec("eval_in_distribution", "small", "pick_two_obj_and_place", 3)
    assert gen.generate_game(spec) == gen.generate_game(spec)
    assert gen.generate_game(spec) != gen.generate_game(GameSpec(spec.split, spec.scene_size, spec.task_type, 4))


def test_planner_walkthrough_also_solves_a_generated_game():
    game = gen.generate_game(GameSpec("train", "small", "pick_heat_then_place_in_recep", 1), use_planner=True)
    assert gen.replays_to_win(game, game["walkthrough"])
    assert game["walkthrough"] == gen.planner_walkthrough(game)


def _drawn_params(split: str, task_type: str, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        rng = random.Random(f"{split}{task_type}{i}")
        game = None
        while game is None:
            game = gen.draw_game(GameSpec(split, "small", task_type, i), rng)
        p = game["traj_data"]["pddl_params"]
        out.append((p["object_target"], p["parent_target"] or p["toggle_target"]))
    return out


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_out_of_distribution_split_holds_out_task_combinations(task_type):
    for split in SPLITS:
        pairs = _drawn_params(split, task_type, 12)
        held = [gen.is_held_out(o, t) for o, t in pairs]
        assert all(held) if split == "eval_out_of_distribution" else not any(held), (split, pairs)


def test_scene_sizes_span_small_to_alfworld_sized():
    for size, (low, high) in SCENE_SIZES.items():
        for task_type in TASK_TYPES:
            rng = random.Random(size + task_type)
            game = None
            while game is None:
                game = gen.draw_game(GameSpec("train", size, task_type, 0), rng)
            assert low <= game["traj_data"]["scene"]["receptacles"] <= high
    assert SCENE_SIZES["large"][0] >= 30


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="split"):
        GameSpec("test", "small", TASK_TYPES[0], 0)
    with pytest.raises(ValueError, match="task_type"):
        GameSpec("train", "small", "juggle", 0)
    with pytest.raises(ValueError, match="index"):
        GameSpec("train", "small", TASK_TYPES[0], -1)


def test_disk_cache_is_reused_and_a_corrupt_file_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path))
    spec = GameSpec("train", "small", "pick_and_place_simple", 7)
    game = gen.load_or_generate(spec)
    files = list((tmp_path / "alfworld" / f"games-v{gen.GENERATOR_VERSION}").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == game

    def boom(_spec, use_planner=False):
        raise AssertionError("should have been read from the cache")

    real_generate = gen.generate_game
    monkeypatch.setattr(gen, "generate_game", boom)
    assert gen.load_or_generate(spec) == game
    files[0].write_text("{not json")
    monkeypatch.setattr(gen, "generate_game", real_generate)
    assert gen.load_or_generate(spec) == game
    assert json.loads(files[0].read_text()) == game


def test_every_receptacle_has_its_own_location():
    # The handcoded expert's co-location handling (experts.py) relies on this to leave generated games'
    # expert trajectories unchanged; real scenes may put several receptacles at one location.
    for size in SCENE_SIZES:
        for task_type in TASK_TYPES:
            problem = gen.load_or_generate(GameSpec("train", size, task_type, 0))["pddl_problem"]
            locations = [line.split()[-1].rstrip(")") for line in problem.splitlines() if "(receptacleAtLocation " in line]
            assert locations and len(locations) == len(set(locations)), (size, task_type)
