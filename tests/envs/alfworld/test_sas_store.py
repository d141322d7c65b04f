"""The on-disk SAS store (spear_envs.alfworld.sas_store): a game's two PDDL->SAS translations are made once
per machine; episodes played from stored translations are the episodes fresh translations give, and a bad
or unwritable store costs a translation, never an episode."""

from __future__ import annotations

import gzip
import json
import pickle

import fast_downward
import pytest

from spear_envs.alfworld import fast_engine, sas_store

from .conftest import small_env
from .test_game_cache import episode

GAMES = (0, 1, 2)


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    """A private, empty store folder and empty in-process caches for every test."""
    monkeypatch.setattr(sas_store, "store_dir", lambda: tmp_path / "sas")
    monkeypatch.setattr(sas_store, "_warned", False)
    fast_engine.configure_game_cache()
    yield tmp_path / "sas"
    fast_engine.configure_game_cache()


def entries(folder) -> list:
    return sorted(folder.rglob("*.json.gz")) if folder.exists() else []


def play(games=GAMES) -> list:
    fast_engine.clear_caches()  # every game new to the process: it must come from the store or the translator
    env = small_env(expert="handcoded")
    return [episode(env, index, 40 + index, 8) for index in games]


def forbid_translation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("translated although the store holds the game")

    monkeypatch.setattr(fast_downward, "pddl2sas", refuse)


def test_stored_translations_play_the_translated_episodes(store, monkeypatch):
    fresh = play()
    assert len(entries(store)) == len(GAMES)  # one entry a game, written by the first process to meet it
    forbid_translation(monkeypatch)
    assert play() == fresh


def test_parse_task_is_the_translators_task():
    env = small_env()
    for index in GAMES:
        game = env.game(index)
        task, _ = fast_downward.pddl2sas(game["pddl_domain"], game["pddl_problem"])
        rebuilt = fast_engine.parse_task(game["pddl_domain"], game["pddl_problem"])
        assert pickle.dumps(rebuilt, protocol=4) == pickle.dumps(task, protocol=4), index


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_key", "not_sas", "not_a_dict"])
def test_a_damaged_entry_is_a_miss_and_is_rewritten(store, damage):
    fresh = play(GAMES[:1])
    (path,) = entries(store)
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not gzip at all")
    else:
        entry = json.loads(gzip.decompress(good))
        if damage == "other_key":
            entry["key"] = "0" * 64
        elif damage == "not_sas":
            entry["sas"] = "rm -rf /"
        else:
            entry = [entry["sas"], entry["sas_replan"]]
        path.write_bytes(gzip.compress(json.dumps(entry).encode()))
    game = small_env().game(GAMES[0])
    assert sas_store.load(game["pddl_domain"], game["pddl_problem"]) is None
    assert play(GAMES[:1]) == fresh  # translated again ...
    assert json.loads(gzip.decompress(path.read_bytes())) == json.loads(gzip.decompress(good))  # ... and rewritten


def test_an_unwritable_store_warns_once_and_plays_on(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's folder should be")
    fresh = play()
    monkeypatch.setattr(sas_store, "store_dir", lambda: blocker / "sas")
    with pytest.warns(RuntimeWarning, match="cannot write") as caught:
        assert play() == fresh
    assert len([w for w in caught if "SAS store" in str(w.message)]) == 1


def test_switched_off_the_store_is_neither_read_nor_written(store, monkeypatch):
    fresh = play()
    fast_engine.configure_game_cache(sas_store_enabled=False)
    calls = []
    translate = fast_downward.pddl2sas
    monkeypatch.setattr(fast_downward, "pddl2sas", lambda *a, **k: calls.append(1) or translate(*a, **k))
    for path in entries(store):
        path.unlink()
    assert play() == fresh
    assert len(calls) == 2 * len(GAMES) and entries(store) == []


def test_the_key_covers_both_texts_and_the_translator():
    key = sas_store.entry_key("(domain a)", "(problem b)")
    assert key != sas_store.entry_key("(domain a)", "(problem c)")
    assert key != sas_store.entry_key("(domain b)", "(problem b)")
    assert key != sas_store.entry_key("(domain a)(problem", " b)")  # lengths are part of the key
    assert key == sas_store.entry_key("(domain a)", "(problem b)")
