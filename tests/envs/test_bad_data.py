"""Hostile data files: a non-UTF-8 WebShop file and a malformed ALFWorld cached game get clear answers."""

from __future__ import annotations

import json

import pytest

import spear_envs.alfworld.game_generator as gen
from spear_envs.alfworld.env import ALFWorldEnv
from spear_envs.webshop import real_data
from spear_envs.webshop.catalog import Catalog, CatalogSource
from spear_envs.webshop.catalog_generator import ATTRIBUTES_FILE, PRODUCTS_FILE, write_catalog


@pytest.mark.parametrize("which", [PRODUCTS_FILE, ATTRIBUTES_FILE])
def test_a_webshop_file_with_non_utf8_bytes_is_named(tmp_path, which):
    write_catalog(tmp_path, 12, seed=3)
    path = tmp_path / which
    data = path.read_bytes()
    cut = data.index(b'"', 200)  # inside the JSON, past the first chunk boundary of a small read
    path.write_bytes(data[:cut] + b"\xff\xfe" + data[cut:])
    with pytest.raises(real_data.DataFileError, match="not UTF-8") as excinfo:
        Catalog(CatalogSource(str(tmp_path)))
    assert str(path) in str(excinfo.value) and "\\xff" in str(excinfo.value)
    with pytest.raises(real_data.DataFileError, match="not UTF-8"):
        if which == PRODUCTS_FILE:
            list(real_data.iter_json_array(path, chunk_size=64))
        else:
            real_data.load_json_object(path)


@pytest.mark.parametrize("content", [
    {"grammar": "x", "pddl_problem": "y"},  # no pddl_domain: once a bare KeyError
    [1, 2, 3],
    "not json at all",
])
def test_a_malformed_cached_alfworld_game_is_regenerated_with_a_warning(tmp_path, monkeypatch, content):
    monkeypatch.setattr(gen, "games_dir", lambda: tmp_path)
    env = ALFWorldEnv(scene_size="small", num_games=6)
    spec = env.game_spec(0)
    path = tmp_path / (spec.game_id.split("/", 1)[1].replace("/", "__") + ".json")
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.warns(UserWarning, match="regenerating it") as record:
        obs, info = env.reset(seed=0, options={"game_index": 0})
    assert str(path) in str(record[0].message)
    assert obs and info["admissible_actions"]
    assert gen.cached_game_problem(json.loads(path.read_text()), spec) is None  # the cache was repaired


def test_a_cached_file_holding_another_game_is_caught():
    spec = gen.GameSpec("train", "small", gen.TASK_TYPES[0], 0)
    other = gen.GameSpec("train", "small", gen.TASK_TYPES[0], 1)
    assert "not" in gen.cached_game_problem(gen.load_or_generate(other), spec)
