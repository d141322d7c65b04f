"""Real json_2.1.1-style folders: clear errors for bad folders, and the real valid_seen games."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from spear_envs.alfworld.experts import expert_episode
from spear_envs.alfworld.game_generator import TASK_TYPES, GameSpec, load_or_generate
from spear_envs.alfworld.real_data import RealDataError, find_real_games, load_real_game


def _write_trial(root, split="valid_seen", task_type="pick_and_place_simple", index=0, **overrides):
    game = load_or_generate(GameSpec("train", "small", task_type, index))
    trial = root / split / f"{task_type}-X-None-Y-1{index}" / "trial_T1"
    trial.mkdir(parents=True)
    data = {k: game[k] for k in ("pddl_domain", "grammar", "pddl_problem", "solvable")} | overrides
    (trial / "game.tw-pddl").write_text(json.dumps(data))
    (trial / "traj_data.json").write_text(json.dumps(game["traj_data"]))
    return trial, game


def test_a_generated_game_written_in_the_official_layout_plays_through_the_loader(tmp_path):
    _, game = _write_trial(tmp_path / "json_2.1.1")
    env = gym.make("spear/ALFWorld-v0", data_dir=str(tmp_path), split="eval_in_distribution", expert="planner")
    episode = expert_episode(env, seed=0)
    assert episode.won and episode.steps[0][1]["task_id"].startswith("valid_seen/pick_and_place_simple")
    assert [a for _, _, a in episode.steps] == game["walkthrough"]


def test_env_variable_supplies_the_data_dir(tmp_path, monkeypatch):
    _write_trial(tmp_path)
    monkeypatch.setenv("SPEAR_ALFWORLD_DATA", str(tmp_path))
    assert gym.make("spear/ALFWorld-v0", split="valid_seen").unwrapped.num_games == 1


def test_missing_folders_say_what_was_expected_and_found(tmp_path):
    with pytest.raises(RealDataError, match="does not exist"):
        find_real_games(tmp_path / "nope", "valid_seen")
    (tmp_path / "train").mkdir()
    with pytest.raises(RealDataError, match=r"no split folder 'valid_seen'.*train"):
        find_real_games(tmp_path, "valid_seen")
    (tmp_path / "valid_seen" / "pick_and_place_simple-A-None-B-1" / "trial_1").mkdir(parents=True)
    (tmp_path / "valid_seen" / "pick_and_place_simple-A-None-B-1" / "trial_1" / "traj_data.json").write_text("{}")
    with pytest.raises(RealDataError, match="no playable games.*game.tw-pddl"):
        find_real_games(tmp_path, "valid_seen")


def test_malformed_files_are_reported(tmp_path):
    trial, _ = _write_trial(tmp_path)
    (trial / "game.tw-pddl").write_text("{broken")
    with pytest.raises(RealDataError, match="not a readable JSON"):
        find_real_games(tmp_path, "valid_seen")
    (trial / "game.tw-pddl").write_text(json.dumps({"solvable": True, "grammar": "x"}))
    games = find_real_games(tmp_path, "valid_seen")
    with pytest.raises(RealDataError, match=r"missing or not strings: \['pddl_domain', 'pddl_problem'\]"):
        load_real_game(games[0])


def test_unsolvable_and_movable_trials_are_skipped(tmp_path):
    _write_trial(tmp_path, index=0)
    _write_trial(tmp_path, index=1, solvable=False)
    _write_trial(tmp_path, task_type="pick_two_obj_and_place", index=2)
    movable = tmp_path / "valid_seen" / "pick_and_place_with_movable_recep-A-B-C-1" / "trial_1"
    movable.mkdir(parents=True)
    (movable / "traj_data.json").write_text("{}")
    assert len(find_real_games(tmp_path, "valid_seen")) == 2
    assert len(find_real_games(tmp_path, "valid_seen", ("pick_two_obj_and_place",))) == 1


def _real_win_rate(data_dir, indices) -> tuple[int, int, set]:
    env = gym.make("spear/ALFWorld-v0", data_dir=str(data_dir), split="valid_seen", expert="handcoded")
    wins, types = 0, set()
    for i in indices:
        episode = expert_episode(env, seed=i, options={"game_index": i})
        wins += episode.won
        types.add(episode.steps[0][1]["task_type"])
    return wins, len(indices), types


def test_real_valid_seen_loads_and_the_expert_wins_a_sample(real_data_dir):
    games = find_real_games(real_data_dir, "valid_seen")
    assert len(games) == 140  # valid_seen's solvable games (movable/sliced excluded, as upstream)
    wins, n, types = _real_win_rate(real_data_dir, list(range(0, 140, 12)))
    assert types == set(TASK_TYPES)
    assert wins >= 11, f"handcoded expert won {wins}/{n} real games"  # measured 12/12


def test_expert_handles_colocated_real_receptacles(real_data_dir):
    # valid_seen game 12: shelf 9 and shelf 10 share a location, so the engine offers no "go to shelf 10"
    # from shelf 9; game 120: desk 1 and drawers 1-3 share one, so at the desk "take cd 3 from drawer 1"
    # (the cd already placed) is listed. Upstream's expert loses both within 50 steps.
    wins, n, _ = _real_win_rate(real_data_dir, [12, 120])
    assert wins == n


@pytest.mark.slow
def test_real_valid_seen_expert_win_rate(real_data_dir):
    # Measured 136/140 (97.1%) within the env's 50 steps. The 4 losses run out of steps searching large
    # kitchens/bedrooms (many closed drawers at 3 steps each; pick_two re-searches for the second object).
    wins, n, _ = _real_win_rate(real_data_dir, list(range(140)))
    assert wins / n >= 0.95, f"handcoded expert won {wins}/{n}"
