"""Load official ALFWorld game folders (``json_2.1.1`` layout) when a user has them.

Layout expected under ``data_dir`` (either directly or inside a ``json_2.1.1/`` folder)::

    <split>/<task_type>-<Object>-<MovableRecep>-<ParentRecep>-<scene>/<trial_...>/
        game.tw-pddl       # JSON: pddl_domain, grammar (with the task sentence), pddl_problem, solvable
        traj_data.json     # JSON: task_type, pddl_params (read by the handcoded expert)

Like upstream's ``AlfredTWEnv.collect_game_files``, trials whose path mentions ``movable`` or ``Sliced``,
trials without a game file, and games not marked ``solvable`` are skipped. ``data_dir`` may also be set
with the ``SPEAR_ALFWORLD_DATA`` environment variable. Split aliases: ``eval_in_distribution`` ->
``valid_seen``, ``eval_out_of_distribution`` -> ``valid_unseen``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spear_envs.alfworld.game_generator import TASK_TYPES

__all__ = ["DATA_ENV_VAR", "RealDataError", "RealGame", "find_real_games", "load_real_game", "resolve_data_dir"]

DATA_ENV_VAR = "SPEAR_ALFWORLD_DATA"
SPLIT_ALIASES = {"eval_in_distribution": "valid_seen", "eval_out_of_distribution": "valid_unseen"}
_GAME_KEYS = ("pddl_domain", "grammar", "pddl_problem")


class RealDataError(ValueError):
    """A real-data folder is missing or malformed; the message says what was expected and what was found."""


@dataclass(frozen=True)
class RealGame:
    """One trial folder of a real split."""

    game_id: str  # "<split>/<task folder>/<trial folder>"
    path: Path  # the trial folder


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir``, else ``$SPEAR_ALFWORLD_DATA``, else None (use generated games)."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_ENV_VAR) or None
    return None if value is None else Path(value).expanduser()


def _split_root(data_dir: Path, split: str) -> Path:
    if not data_dir.is_dir():
        raise RealDataError(f"ALFWorld data_dir {str(data_dir)!r} does not exist or is not a folder")
    name = SPLIT_ALIASES.get(split, split)
    for candidate in (data_dir / name, data_dir / "json_2.1.1" / name):
        if candidate.is_dir():
            return candidate
    found = sorted(p.name for p in data_dir.iterdir())[:20]
    raise RealDataError(
        f"ALFWorld data_dir {str(data_dir)!r} has no split folder {name!r} (looked for {name}/ and "
        f"json_2.1.1/{name}/); found: {found or 'an empty folder'}"
    )


def find_real_games(data_dir: str | os.PathLike, split: str, task_types: tuple[str, ...] = TASK_TYPES) -> list[RealGame]:
    """The playable trials of ``split``, sorted by id. Raises :class:`RealDataError` if there are none."""
    root = _split_root(Path(data_dir), split)
    games, seen_trials = [], 0
    for traj in sorted(root.glob("*/*/traj_data.json")):
        trial = traj.parent
        seen_trials += 1
        relative = f"{trial.parent.name}/{trial.name}"
        if "movable" in relative or "Sliced" in relative:
            continue
        task_type = trial.parent.name.split("-", 1)[0]
        if task_type not in task_types or not (trial / "game.tw-pddl").is_file():
            continue
        if not _marked_solvable(trial / "game.tw-pddl"):
            continue
        games.append(RealGame(f"{root.name}/{trial.parent.name}/{trial.name}", trial))
    if not games:
        raise RealDataError(
            f"no playable games in {str(root)!r}: expected <task folder>/<trial>/ with game.tw-pddl (solvable) "
            f"and traj_data.json for task types {list(task_types)}; found {seen_trials} trial folder(s) with "
            f"traj_data.json and none usable"
        )
    return games


def _marked_solvable(path: Path) -> bool:
    try:
        with open(path) as f:
            return bool(json.load(f).get("solvable", False))
    except (OSError, json.JSONDecodeError, AttributeError) as e:
        raise RealDataError(f"{str(path)!r} is not a readable JSON game file: {e}") from e


def load_real_game(game: RealGame) -> dict[str, Any]:
    """The game dict (upstream keys plus ``traj_data`` and ``game_id``) of one real trial."""
    game_path, traj_path = game.path / "game.tw-pddl", game.path / "traj_data.json"
    data = _read_json(game_path)
    missing = [k for k in _GAME_KEYS if not isinstance(data.get(k), str)]
    if missing:
        raise RealDataError(
            f"{str(game_path)!r}: expected string keys {list(_GAME_KEYS)}; missing or not strings: {missing} "
            f"(found keys {sorted(data)})"
        )
    traj = _read_json(traj_path)
    if not isinstance(traj.get("task_type"), str) or not isinstance(traj.get("pddl_params"), dict):
        raise RealDataError(f"{str(traj_path)!r}: expected keys 'task_type' (str) and 'pddl_params' (object); "
                            f"found keys {sorted(traj)}")
    return {
        **{k: data[k] for k in _GAME_KEYS},
        "solvable": bool(data.get("solvable", False)),
        "walkthrough": data.get("walkthrough"),
        "traj_data": {"task_type": traj["task_type"], "pddl_params": traj["pddl_params"]},
        "game_id": game.game_id,
    }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise RealDataError(f"expected file {str(path)!r} is missing") from e
    except (OSError, json.JSONDecodeError) as e:
        raise RealDataError(f"{str(path)!r} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise RealDataError(f"{str(path)!r} should hold a JSON object, found {type(data).__name__}")
    return data
