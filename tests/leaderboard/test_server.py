"""The submission server on a real loopback port with a real SQLite file.

Valid submissions are accepted and shown; every bad input is refused with its reason and leaves the
database byte-for-byte identical (compared as a full SQL dump).
"""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from spear_train.leaderboard.schema import Result

from .conftest import SMALL_BODY_LIMIT, TOY_ID, as_dict, db_dump, make_result, post_result, request, wait_job

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_valid_submission_is_accepted_and_shown(server, toy_result):
    status, body = post_result(server, as_dict(toy_result))
    assert status == 201, body
    assert body["content_hash"] == toy_result.content_hash() and body["track"] == "paper"
    assert body["success_mean"] == pytest.approx(toy_result.metrics.success_mean)
    status, board, _ = request(server.url, path=f"/api/leaderboard?env={TOY_ID}")
    assert status == 200 and board["current_env_version"] == "test-1"
    [row] = board["rows"]
    assert (row["id"], row["rank"], row["method"], row["seeds"], row["verified"]) == (body["id"], 1, "random", 2, True)
    status, page, headers = request(server.url, path=f"/leaderboard?env={TOY_ID}")
    assert status == 200 and f'data-id="{body["id"]}"' in page and "verified" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, detail, _ = request(server.url, path=f"/submissions/{body['id']}")
    assert status == 200 and toy_result.content_hash() in detail and "tester" in detail
    status, stored, _ = request(server.url, path=f"/api/submissions/{body['id']}")
    assert Result.model_validate(stored) == toy_result


def _forge_score(d):
    d["metrics"]["score_mean"] += 1.0
    d["metrics"]["per_seed"][0]["score"] += 1.0


def _tamper_actions(d):
    for run in d["runs"]:
        for ep in run["episodes"]:
            for step in ep["steps"]:
                step["action"] = "guess nothing"


def _old_version(d):
    d["env"]["version"] = "test-0"
    for run in d["runs"]:
        for ep in run["episodes"]:
            ep["env_version"] = "test-0"


def _nested(depth: int):
    value: object = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


BAD_INPUTS = {
    # name: (body builder, token, expected status, expected reason, fragment of the message/details)
    "oversize body": (lambda d: json.dumps({**d, "description": "x" * 1000, "pad": "y" * SMALL_BODY_LIMIT}).encode(),
                      "default", 413, "body_too_large", str(SMALL_BODY_LIMIT)),
    "malformed JSON": (lambda d: json.dumps(d).encode()[:-7], "default", 400, "malformed_json", "not valid JSON"),
    "deeply nested JSON": (lambda d: b"[" * 100_000 + b"]" * 100_000, "default", 400, "too_deep",
                           "nested too deeply"),
    "config nested 600 deep": (lambda d: {**d, "config": _nested(600)}, "default", 400, "too_deep", "601 levels"),
    "not UTF-8": (lambda d: b"\xff\xfe{}", "default", 400, "malformed_json", "not valid JSON"),
    "wrong types": (lambda d: {**d, "seeds": "0,1"}, "default", 422, "schema_invalid", "seeds"),
    "JSON array": (lambda d: [d], "default", 422, "schema_invalid", "(document)"),
    "missing token": (lambda d: d, None, 401, "missing_token", "Authorization"),
    "wrong token": (lambda d: d, "slb_not-a-real-token", 401, "invalid_token", "not valid"),
    "forged score": (lambda d: (_forge_score(d), d)[1], "default", 422, "metrics_mismatch", "score_mean: claimed"),
    "tampered action log": (lambda d: (_tamper_actions(d), d)[1], "default", 422, "replay_mismatch", "reward"),
    "unknown env version": (lambda d: (_old_version(d), d)[1], "default", 422, "unknown_env_version", "test-0"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_rejected_with_reason_and_database_unchanged(server, toy_result, case):
    build, token, want_status, want_reason, fragment = BAD_INPUTS[case]
    before = db_dump(server.db_path)
    status, body = post_result(server, build(as_dict(toy_result)), token)
    assert status == want_status, body
    assert body["reason"] == want_reason
    assert fragment in body["error"] + " ".join(body["details"])
    assert db_dump(server.db_path) == before
    # the server still works after the refusal
    assert post_result(server, as_dict(toy_result))[0] == 201


def test_duplicate_is_rejected_and_stored_once(server, toy_result):
    status, first = post_result(server, as_dict(toy_result))
    assert status == 201
    before = db_dump(server.db_path)
    renamed = {**as_dict(toy_result), "method": "same episodes, new name"}
    status, body = post_result(server, renamed)
    assert (status, body["reason"]) == (409, "duplicate")
    assert f"#{first['id']}" in body["error"]
    assert db_dump(server.db_path) == before


def test_script_html_and_sql_in_names_are_stored_literally_and_escaped(server, toy_result):
    method = "<script>window.__pwned=1</script><img src=x onerror=alert(1)>"
    model = "Robert'); DROP TABLE submissions;--"
    data = {**as_dict(toy_result), "method": method, "description": "<b>bold?</b> & \"quoted\""}
    data["model"]["name"] = model
    status, body = post_result(server, data)
    assert status == 201, body
    _, board, _ = request(server.url, path=f"/api/leaderboard?env={TOY_ID}")
    assert (board["rows"][0]["method"], board["rows"][0]["model"]) == (method, model)
    for path in (f"/leaderboard?env={TOY_ID}", f"/submissions/{body['id']}"):
        _, page, _ = request(server.url, path=path)
        assert "<script>window" not in page and "<img src=x" not in page and "<b>bold" not in page
        assert html.escape(method, quote=False) in page or html.escape(method) in page
    # the SQL did nothing: the table is intact and a second submission works
    assert post_result(server, as_dict(make_result(1)))[0] == 201
    assert server.db.count_submissions() == 2


def test_leaderboard_api_errors_are_json_with_reasons(server):
    status, body, _ = request(server.url, path="/api/leaderboard")
    assert (status, body["reason"]) == (400, "missing_env")
    status, body, _ = request(server.url, path="/api/submissions/999")
    assert (status, body["reason"]) == (404, "not_found")
    status, body, _ = request(server.url, path="/api/submissions", method="GET")
    assert (status, body["reason"]) == (405, "method_not_allowed")
    status, body, _ = request(server.url, path="/api/leaderboard?env=spear-test/None-v0")
    assert status == 200 and body["rows"] == [] and body["current_env_version"] is None


def test_concurrent_load_stores_each_accepted_submission_exactly_once(server):
    """8 clients x 25 submissions: 20 own results, 3 shared with every client, 2 forged, per client."""
    n_clients, own = 8, 20
    shared = [as_dict(make_result(1000 + j, seeds=(0,), episodes=2)) for j in range(3)]
    plans = []
    for c in range(n_clients):
        mine = [as_dict(make_result(c * own + j, seeds=(0,), episodes=2)) for j in range(own)]
        forged = [as_dict(make_result(5000 + c * 2 + j, seeds=(0,), episodes=2)) for j in range(2)]
        for f in forged:
            _forge_score(f)
        plans.append(mine + shared + forged)
    outcomes: list[tuple[int, dict, str]] = []
    lock = threading.Lock()

    def client(plan):
        for data in plan:
            status, body = post_result(server, data)
            with lock:
                outcomes.append((status, body, Result.model_validate(data).content_hash()))

    threads = [threading.Thread(target=client, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(outcomes) == n_clients * 25
    statuses = Counter(s for s, _, _ in outcomes)
    assert statuses == {201: n_clients * own + 3, 409: (n_clients - 1) * 3, 422: n_clients * 2}
    accepted = {h: b["id"] for s, b, h in outcomes if s == 201}
    assert len(accepted) == n_clients * own + 3  # no hash accepted twice
    assert all(b["reason"] == "metrics_mismatch" for s, b, _ in outcomes if s == 422)
    stored = {}
    for row in server.db.leaderboard(TOY_ID):
        assert row["content_hash"] not in stored
        stored[row["content_hash"]] = row["id"]
    assert stored == accepted


class CliServer:
    """``spear-bench leaderboard serve`` in a subprocess. Its output is drained by a thread (a full pipe
    would block the server's logging) and kept for failure messages; faulthandler is on, so a server that
    does not stop is made to dump every thread's stack before it is killed."""

    def __init__(self, db_path: Path):
        cmd = [sys.executable, "-m", "spear_train.cli.main", "leaderboard", "serve", "--db", str(db_path),
               "--port", "0", "--env-module", "tests.leaderboard.toy_registration"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
        # SIGINT back to its default in the child: a test run started in the background of a shell
        # inherits it as ignored, and Ctrl-C is what this class stands in for
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        ready = threading.Event()
        self.url = ""

        def drain() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                if not self.url and "serving http://" in line:
                    self.url = line.split("serving ")[1].split()[0]
                    ready.set()
            ready.set()  # the server exited

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(timeout=60) or not self.url:
            self.proc.kill()
            pytest.fail(f"server did not start: {self.output()}")

    def output(self) -> str:
        return "".join(self.lines)[-6000:]

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Send ``sig`` (SIGINT = Ctrl-C, or SIGTERM: both are clean shutdowns); returns the exit status.
        Fails with the server's stacks if it has not exited after 90 s (generous: on a starved machine it
        may barely get CPU)."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler prints the stacks
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            time.sleep(0.5)  # let the drain thread read the dump
            pytest.fail(f"server did not stop within 90 s of {signal.Signals(sig).name}; its output:\n"
                        f"{self.output()}")


def test_restarted_server_on_the_same_database_keeps_everything(tmp_path):
    from spear_train.leaderboard.db import LeaderboardDB
    from spear_train.leaderboard.client import post_result as client_post

    db_path = tmp_path / "persist.sqlite"
    token = LeaderboardDB(db_path).add_token("persistent")
    first = make_result(7)
    server = CliServer(db_path)
    try:
        accepted = wait_job(server.url, client_post(first.to_json().encode(), server.url, token))
        _, board_before, _ = request(server.url, path=f"/api/leaderboard?env={TOY_ID}")
    finally:
        status = server.stop(signal.SIGINT)
    assert status == 0, server.output()
    server = CliServer(db_path)
    url = server.url
    try:
        _, board_after, _ = request(url, path=f"/api/leaderboard?env={TOY_ID}")
        assert board_after == board_before and board_after["rows"][0]["id"] == accepted["id"]
        _, stored, _ = request(url, path=f"/api/submissions/{accepted['id']}")
        assert Result.model_validate(stored) == first
        status, body, _ = request(url, "POST", "/api/submissions", first.to_json().encode(), token)
        assert (status, body["reason"]) == (409, "duplicate")  # duplicate detection survives the restart
        again = wait_job(url, client_post(make_result(8).to_json().encode(), url, token))
        assert again["id"] == accepted["id"] + 1
    finally:
        status = server.stop(signal.SIGTERM)
    assert status == 0, server.output()
