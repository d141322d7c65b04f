"""``spear-bench run`` then ``spear-bench submit`` to a local ``spear-bench leaderboard serve``.

The laptop track fixes the evaluation list (100 held-out games), and no test-only setting stands in for
it: a registered setting that accepted fewer games would be a weaker benchmark for anyone whose server
imported it. So the fast test trains on a tiny budget and evaluates only 4 games, and checks the server
matches the run to the laptop track and refuses it for exactly that shortness; the slow test plays the
whole list and is accepted.
"""

from __future__ import annotations

import json
import signal

import pytest
import yaml

from spear_train.cli.main import main
from spear_train.leaderboard.db import LeaderboardDB

from .conftest import db_dump, request
from .test_server import CliServer

#: training-only knobs shrunk; everything the evaluation plays stays the laptop default
TINY = {"steps": 1, "groups_per_step": 1, "group_size": 2, "mini_batch_size": 2, "micro_batch_size": 2}


def _run(tmp_path, eval_episodes: int | None):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, **({"eval_episodes": eval_episodes} if eval_episodes else {})}))
    argv = ["run", "--algo", "spear", "--env", "alfworld", "--config", str(config), "--out", str(tmp_path / "runs"),
            "--quiet"]
    assert main(argv) == 0
    [result] = (tmp_path / "runs").glob("*/result.json")
    return result


def _submit(tmp_path, result, capsys) -> tuple[int, str, str, list[str], list[str]]:
    db_path = tmp_path / "board.sqlite"
    token = LeaderboardDB(db_path).add_token("newcomer")
    server = CliServer(db_path)
    try:
        before = db_dump(db_path)
        capsys.readouterr()
        rc = main(["submit", str(result), "--server", server.url, "--token", token, "--timeout", "1500"])
        out, err = capsys.readouterr()
        after = db_dump(db_path)
        _, board, _ = request(server.url, path="/api/leaderboard?env=spear/ALFWorld-v0")
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.output()
    return rc, out, err, [before, after], board["rows"]


def test_tiny_run_is_matched_to_the_laptop_track_and_refused_only_for_its_short_list(tmp_path, capsys):
    result = _run(tmp_path, eval_episodes=4)
    doc = json.loads(result.read_text())
    assert len(doc["runs"][0]["episodes"]) == 4
    rc, _, err, (before, after), rows = _submit(tmp_path, result, capsys)
    assert rc == 2 and "too_few_episodes" in err
    assert "the laptop track of spear/ALFWorld-v0 needs at least 100" in err
    assert before == after and rows == []


@pytest.mark.slow
def test_laptop_run_result_is_accepted_on_the_laptop_track(tmp_path, capsys):
    result = _run(tmp_path, eval_episodes=None)
    rc, out, err, (before, after), rows = _submit(tmp_path, result, capsys)
    assert rc == 0, err
    assert "accepted as #1 on the laptop track" in out and "/submissions/1" in out
    [row] = rows
    assert (row["track"], row["preset"], row["steps"], row["episodes"]) == ("laptop", "spear", 1, 100)
    assert before != after
