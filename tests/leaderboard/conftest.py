"""Fixtures for the leaderboard tests: toy results, a real server on a loopback port, an HTTP helper."""

from __future__ import annotations

import http.client
import json
import logging
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from spear_train.leaderboard.db import LeaderboardDB
from spear_train.leaderboard.evaluate import evaluate_agent
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.server import create_app

from .toy_registration import TOY_ID, TOY_MIN_EPISODES  # noqa: F401 - registers the toy settings

SMALL_BODY_LIMIT = 256 * 1024
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log in test output


def random_agent(seed: int, env=None):
    rng = random.Random(seed)
    return lambda observation, info: rng.choice(info["admissible_actions"])


def marked_agent(k: int):
    """A random agent whose first action of each episode is the (inadmissible) word ``nothing-<k>-<seed>``:
    results made with distinct ``k`` hold distinct evidence, and so do the runs of one result."""
    def factory(seed: int, env=None):
        rng = random.Random(seed)

        def act(observation, info):
            if observation == "A fruit is hidden.":
                return f"guess nothing-{k}-{seed}"
            return rng.choice(info["admissible_actions"])
        return act
    return factory


def make_result(k: int = 0, *, seeds=(0, 1), episodes: int = 3, method: str = "random",
                track: str = "paper") -> Result:
    """A genuine toy result on the toy setting of ``track``: reset seeds ``0..episodes-1`` per run seed;
    distinct ``k`` give distinct evidence."""
    kwargs = {"max_steps": 5 if track == "paper" else 3}
    return evaluate_agent(TOY_ID, agent_factory=marked_agent(k), seed=list(seeds), method=method,
                          episodes=episodes, env_kwargs=kwargs, progress=False)


def as_dict(result: Result) -> dict[str, Any]:
    return json.loads(result.to_json())


def request(url: str, method: str = "GET", path: str = "/", body: bytes | None = None,
            token: str | None = None, headers: dict | None = None) -> tuple[int, Any, dict]:
    """One HTTP request on a fresh loopback connection: (status, parsed JSON or text, headers)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("Content-Type", "")
        payload = json.loads(raw) if "json" in ctype else raw.decode("utf-8", "replace")
        return resp.status, payload, dict(resp.getheaders())
    finally:
        conn.close()


def post_result(server, data: dict | bytes, token: str | None = "default", *, wait: bool = True,
                timeout: float = 120.0) -> tuple[int, Any]:
    """POST a result. A queued one (202) is followed until verified when ``wait``: the answer is then
    (201, accepted job) or (422/409, rejected job), the status codes a synchronous server would give."""
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    status, payload, _ = request(server.url, "POST", "/api/submissions", body,
                                 server.token if token == "default" else token)
    if status != 202 or not wait:
        return status, payload
    job = wait_job(server.url, payload, timeout)
    if job["status"] == "accepted":
        return 201, job
    return (409 if job["reason"] == "duplicate" else 422), job


def wait_job(url: str, job: dict, timeout: float = 120.0) -> dict:
    """Poll a job until it is accepted or rejected."""
    deadline = time.monotonic() + timeout
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job} not finished after {timeout} s"
        time.sleep(0.05)
        status, job, _ = request(url, path=job["status_url"])
        assert status == 200, job
    return job


def db_dump(path: Path) -> list[str]:
    """Every statement needed to rebuild the leaderboard's contents (tokens, submissions, schema): equal
    dumps, equal contents. Rows of the ``jobs`` table are left out: a refused submission leaves a job
    that records only the refusal (status, reason; its body is dropped), which is how the client learns it."""
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump() if not line.startswith('INSERT INTO "jobs"')]
    finally:
        conn.close()


class LiveServer:
    """A real threaded WSGI server for ``create_app`` on 127.0.0.1 with a free port."""

    def __init__(self, db_path: Path, **app_kwargs):
        self.db_path = db_path
        self.db = LeaderboardDB(db_path)
        self.token = self.db.add_token("tester")
        self._app = create_app(db_path, **app_kwargs)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._app.extensions["leaderboard_worker"].stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path / "board.sqlite", max_body_bytes=SMALL_BODY_LIMIT, max_pending=10_000,
                      max_per_window=10_000)
    yield live
    live.stop()


@pytest.fixture(scope="session")
def toy_result() -> Result:
    return make_result(0)
