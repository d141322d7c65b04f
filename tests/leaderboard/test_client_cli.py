"""``spear-bench submit`` / ``leaderboard add-token|render|verify`` end to end, with a message for every failure."""

from __future__ import annotations

import json
import socket
import time

import pytest

from spear_train.cli.main import main
from spear_train.leaderboard.db import LeaderboardDB
from spear_train.leaderboard.render import (DuplicateEvidence, RenderError, add_same_episodes, add_to_repository,
                                            md_escape, render_all)
from spear_train.leaderboard.schema import Result

from .conftest import TOY_ID, as_dict, db_dump, make_result


def _write(tmp_path, data, name="result.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_submit_success_prints_id_and_url(server, toy_result, tmp_path, capsys):
    path = _write(tmp_path, as_dict(toy_result))
    assert main(["submit", str(path), "--server", server.url, "--token", server.token]) == 0
    out = capsys.readouterr().out
    assert "accepted as #1" in out and f"{server.url}/submissions/1" in out
    assert server.db.count_submissions() == 1


@pytest.mark.parametrize("case, expected", [
    ("wrong token", "invalid_token"),
    ("no token", "no token given"),
    ("replay mismatch", "the server replayed your episodes and got different rewards"),
    ("forged metrics", "metrics_mismatch"),
    ("schema", "is not a valid spear-bench result"),
    ("not json", "is not valid JSON"),
    ("missing file", "cannot read"),
    ("duplicate", "these episodes were submitted before"),
])
def test_submit_failures_have_clear_messages(server, toy_result, tmp_path, capsys, case, expected):
    data, token = as_dict(toy_result), server.token
    if case == "wrong token":
        token = "slb_wrong"
    elif case == "no token":
        token = ""
    elif case == "replay mismatch":
        data["runs"][0]["episodes"][0]["steps"][0]["reward"] += 0.5
    elif case == "forged metrics":
        data["metrics"]["score_mean"] += 0.25
    elif case == "schema":
        data["seeds"] = "all"
    elif case == "duplicate":
        assert main(["submit", str(_write(tmp_path, data, "first.json")), "--server", server.url,
                     "--token", token]) == 0
    path = tmp_path / "missing.json" if case == "missing file" else _write(tmp_path, "{oops" if case == "not json" else data)
    before = db_dump(server.db_path)
    assert main(["submit", str(path), "--server", server.url, "--token", token]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spear-bench: error: ") and expected in err
    assert db_dump(server.db_path) == before


def test_submit_connection_failure_says_so(toy_result, tmp_path, capsys):
    path = _write(tmp_path, as_dict(toy_result))
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["submit", str(path), "--server", url, "--token", "slb_x", "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert f"could not connect to {url}" in err and "is the server running" in err


def test_add_token_cli_prints_a_working_token(tmp_path, capsys):
    db_path = tmp_path / "t.sqlite"
    assert main(["leaderboard", "add-token", "carol", "--db", str(db_path)]) == 0
    token = capsys.readouterr().out.strip()
    assert LeaderboardDB(db_path).check_token(token).name == "carol"
    assert main(["leaderboard", "add-token", "carol", "--db", str(db_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_verify_cli_accepts_genuine_and_names_the_forgery(toy_result, tmp_path, capsys):
    good = _write(tmp_path, as_dict(toy_result), "good.json")
    board = tmp_path / "boards"
    assert main(["leaderboard", "verify", str(good), "--add", "--dir", str(board)]) == 0
    assert "verified 6 episodes on the paper track" in capsys.readouterr().out
    assert len(list((board / "submissions").glob("*.json"))) == 1
    bad = as_dict(toy_result)
    bad["runs"][1]["episodes"][2]["steps"][0]["reward"] = 7.0
    assert main(["leaderboard", "verify", str(_write(tmp_path, bad, "bad.json"))]) == 2
    err = capsys.readouterr().err
    assert "replay_mismatch" in err and "run seed 1, reset seed 2" in err


def test_render_writes_ranked_escaped_tables(tmp_path, capsys):
    board = tmp_path / "leaderboards"
    weak = make_result(3, method="weak | <b>agent</b>")
    strong = make_result(4, method="strong")
    weak_data = as_dict(weak)
    for r in (strong, weak):
        add_to_repository(r, board / "submissions")
    assert main(["leaderboard", "render", "--dir", str(board)]) == 0
    text = (board / "spear-test__GuessWord-v0.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Rank")]
    assert len(rows) == 2 and all("✅ replayed" in r for r in rows)
    best, worst = sorted([strong, weak], key=lambda r: (-r.metrics.success_mean, -r.metrics.score_mean, r.created_at))
    assert md_escape(best.method) in rows[0] and md_escape(worst.method) in rows[1]
    assert "<b>" not in text and "weak \\| &lt;b&gt;agent&lt;/b&gt;" in text
    assert f"{100 * weak.metrics.success_mean:.1f} ± {100 * weak.metrics.success_stderr:.1f}" in text
    # a forged file stops the render and leaves the existing table alone
    weak_data["metrics"]["score_mean"] += 1
    (board / "submissions" / "forged.json").write_text(json.dumps(weak_data))
    before = text
    assert main(["leaderboard", "render", "--dir", str(board)]) == 2
    assert "forged.json" in capsys.readouterr().err
    assert (board / "spear-test__GuessWord-v0.md").read_text() == before


def test_the_same_episodes_are_published_once_whatever_their_label(tmp_path, capsys):
    board = tmp_path / "leaderboards"
    first = make_result(6, method="base")
    written = add_to_repository(first, board / "submissions")
    relabelled = Result.model_validate(as_dict(first) | {"method": "base+extras"})
    assert relabelled.content_hash() == first.content_hash()
    with pytest.raises(DuplicateEvidence) as caught:
        add_to_repository(relabelled, board / "submissions")
    assert caught.value.existing == written and sorted((board / "submissions").iterdir()) == [written]
    assert add_to_repository(first, board / "submissions") == written  # the same file again: rewritten, fine
    assert main(["leaderboard", "verify", str(_write(tmp_path, as_dict(relabelled), "relabelled.json")), "--add",
                 "--dir", str(board)]) == 2
    assert "not added" in capsys.readouterr().err and sorted((board / "submissions").iterdir()) == [written]
    # a copy placed by hand under another name stops the render, as the server would refuse it
    (board / "submissions" / "copy.json").write_text(relabelled.to_json(indent=None))
    assert main(["leaderboard", "render", "--dir", str(board)]) == 2
    assert "same episodes as" in capsys.readouterr().err


def test_a_method_that_played_a_published_rows_episodes_gets_its_own_row_beside_it(tmp_path, capsys):
    board = tmp_path / "leaderboards"
    subs = board / "submissions"
    base = make_result(8, method="base")
    published = add_to_repository(base, subs)
    twin = Result.model_validate(as_dict(base) | {"method": "base+extras", "preset": "base+extras"})
    # with nothing published to stand beside, it is refused and nothing is written
    with pytest.raises(RenderError, match="no file .* holds the episodes"):
        add_same_episodes(twin, tmp_path / "empty")
    assert not (tmp_path / "empty" / "same-episodes").exists()
    # the CLI says how to add it, then adds it
    path = _write(tmp_path, as_dict(twin), "twin.json")
    assert main(["leaderboard", "verify", str(path), "--add", "--dir", str(board)]) == 2
    assert "--same-episodes" in capsys.readouterr().err
    assert main(["leaderboard", "verify", str(path), "--same-episodes", "--dir", str(board)]) == 2
    assert "--same-episodes goes with --add" in capsys.readouterr().err and not (subs / "same-episodes").exists()
    assert main(["leaderboard", "verify", str(path), "--add", "--same-episodes", "--dir", str(board)]) == 0
    [written] = (subs / "same-episodes").iterdir()
    assert written.name.startswith("spear-test__GuessWord-v0__base-extras__") and sorted(subs.glob("*.json")) == [published]
    # the tables list both, the twin marked with the row whose episodes it played and linked in its folder
    assert main(["leaderboard", "render", "--dir", str(board)]) == 0
    text = (board / "spear-test__GuessWord-v0.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Rank")]
    [base_row] = [r for r in rows if r.split("|")[2].strip() == "base"]
    [twin_row] = [r for r in rows if r.split("|")[2].strip() == "base+extras"]
    assert "same episodes" not in base_row and f"✅ replayed; same episodes as the {base.preset} row" in twin_row
    assert f"(submissions/same-episodes/{written.name})" in twin_row and base_row.split("|")[1] == twin_row.split("|")[1]
    # a twin whose claims were edited fails its own replay; one whose base is gone stops the render
    forged = as_dict(twin) | {"method": "forged"}
    forged["metrics"]["success_mean"] = 1.0
    (subs / "same-episodes" / "forged.json").write_text(json.dumps(forged))
    assert main(["leaderboard", "render", "--dir", str(board)]) == 2
    assert "forged.json" in capsys.readouterr().err
    (subs / "same-episodes" / "forged.json").unlink()
    published.unlink()
    assert main(["leaderboard", "render", "--dir", str(board)]) == 2
    assert "no published file holds its episodes" in capsys.readouterr().err
    # and the result cannot stand beside itself
    add_to_repository(base, subs)
    with pytest.raises(RenderError, match="this very result"):
        add_same_episodes(base, subs)


def test_render_marks_outdated_env_versions(tmp_path):
    data = as_dict(make_result(5))
    data["env"]["version"] = "test-0"
    for run in data["runs"]:
        for ep in run["episodes"]:
            ep["env_version"] = "test-0"
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "old.json").write_text(json.dumps(data))
    [path] = render_all(tmp_path / "subs", tmp_path)
    assert "outdated env version" in path.read_text() and TOY_ID in path.read_text()


def test_import_seeds_a_database_from_verified_files_once(tmp_path, capsys):
    folder = tmp_path / "submissions"
    good = [make_result(70, method="first"), make_result(71, method="second", track="laptop")]
    for r in good:
        add_to_repository(r, folder)
    forged = as_dict(make_result(72))
    forged["metrics"]["success_mean"] = 1.0
    (folder / "forged.json").write_text(json.dumps(forged))
    db_path = tmp_path / "seeded.sqlite"
    assert main(["leaderboard", "import", str(folder), "--db", str(db_path)]) == 1  # one file failed
    out = capsys.readouterr().out
    assert "2 imported, 0 already present, 1 failed" in out and "forged.json: failed (metrics_mismatch" in out
    db = LeaderboardDB(db_path)
    rows = {r["method"]: r for r in db.leaderboard(TOY_ID)}
    assert set(rows) == {"first", "second"} and rows["second"]["track"] == "laptop"
    assert db.check_token("anything") is None  # the import owner is a revoked token nobody can use
    (folder / "forged.json").unlink()
    before = db_dump(db_path)
    assert main(["leaderboard", "import", str(folder), "--db", str(db_path)]) == 0
    assert "0 imported, 2 already present, 0 failed" in capsys.readouterr().out
    assert db_dump(db_path) == before


def test_a_job_left_running_by_a_stopped_server_is_verified_after_restart(tmp_path):
    from spear_train.leaderboard.verify import ReplayBudget
    from spear_train.leaderboard.worker import VerifyWorker

    db = LeaderboardDB(tmp_path / "restart.sqlite")
    owner = db.check_token(db.add_token("t"))
    result = make_result(73)
    job_id = db.enqueue(owner.id, result.content_hash(), result.model_dump_json())
    assert db.claim_job()[0] == job_id  # the server "died" here, with the job running
    worker = VerifyWorker(db, ReplayBudget(), poll_s=0.05).start()
    try:
        for _ in range(600):
            if db.job(job_id)["status"] == "accepted":
                break
            time.sleep(0.05)
    finally:
        worker.stop()
    job = db.job(job_id)
    assert job["status"] == "accepted" and db.submission(job["submission_id"])["method"] == "random"
