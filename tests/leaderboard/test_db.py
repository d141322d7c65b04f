"""The SQLite store: migrations, hashed tokens, literal storage of hostile text, refusal of foreign files."""

from __future__ import annotations

import sqlite3

import pytest

from spear_train.leaderboard.db import MIGRATIONS, DatabaseError, DuplicateSubmission, LeaderboardDB, hash_token


def _summary(content_hash: str, method: str = "m") -> dict:
    return {"content_hash": content_hash, "env_id": "e", "env_version": "1", "method": method, "model_name": "x",
            "preset": "p", "success_mean": 0.5, "success_stderr": None, "score_mean": 0.5, "score_stderr": None,
            "n_seeds": 1, "n_episodes": 2, "verified_env_version": "1", "track": "paper", "setting": "e:paper:1",
            "steps": None, "device": "cpu", "wall_time_s": 1.0, "graded_score_mean": None, "graded_score_stderr": None}


def test_migrations_apply_once_and_reopen_keeps_data(tmp_path):
    path = tmp_path / "lb.sqlite"
    db = LeaderboardDB(path)
    token = db.add_token("alice")
    sid = db.add_submission(_summary("h1"), "{}", db.check_token(token).id)
    again = LeaderboardDB(path)
    assert again.migrate() == len(MIGRATIONS)
    assert again.submission(sid)["submitter"] == "alice"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"tokens", "submissions", "submissions_env_success"} <= names


def test_newer_schema_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "future.sqlite"
    LeaderboardDB(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="newer than this spear-bench"):
        LeaderboardDB(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_and_unchanged(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"important notes, not a database\n" * 100)
    with pytest.raises(DatabaseError, match="not a usable SQLite database"):
        LeaderboardDB(path)
    assert path.read_bytes() == b"important notes, not a database\n" * 100


def test_tokens_are_stored_only_as_hashes(tmp_path):
    path = tmp_path / "lb.sqlite"
    db = LeaderboardDB(path)
    token = db.add_token("bob")
    assert db.check_token(token).name == "bob"
    assert db.check_token(token + "x") is None
    with sqlite3.connect(path) as conn:
        stored = [r[0] for r in conn.execute("SELECT token_sha256 FROM tokens")]
    assert stored == [hash_token(token)]
    for f in tmp_path.iterdir():
        assert token.encode() not in f.read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        db.add_token("bob")
    assert db.revoke_token("bob") and db.check_token(token) is None


def test_sql_metacharacters_are_stored_literally(tmp_path):
    db = LeaderboardDB(tmp_path / "lb.sqlite")
    tid = db.check_token(db.add_token("x'; DROP TABLE tokens; --")).id
    hostile = "Robert'); DROP TABLE submissions;-- \" % _ \\"
    sid = db.add_submission(_summary("h'1", hostile), "{}", tid)
    assert db.submission(sid)["method"] == hostile
    assert db.leaderboard("e")[0]["content_hash"] == "h'1"
    assert db.leaderboard("e' OR '1'='1") == []
    with pytest.raises(DuplicateSubmission) as dup:
        db.add_submission(_summary("h'1", "again"), "{}", tid)
    assert dup.value.existing_id == sid and db.count_submissions() == 1
