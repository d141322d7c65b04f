"""Fixtures for the leaderboard tests: toy results, a real server on a loopback port, an HTTP helper."""

from __future__ import annotations

import http.client
import json
import logging
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from spear_train.leaderboard.db import LeaderboardDB
from spear_train.leaderboard.evaluate import evaluate_agent
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.server import create_app

from .toy_registration import TOY_ID

SMALL_BODY_LIMIT = 256 * 1024
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log in test output


def random_agent(seed: int, env=None):
    rng = random.Random(seed)
    return lambda observation, info: rng.choice(info["admissible_actions"])


def make_result(k: int = 0, *, seeds=(0, 1), episodes: int = 3, method: str = "random") -> Result:
    """A genuine toy result; distinct ``k`` give distinct evidence (different reset seeds)."""
    return evaluate_agent(TOY_ID, agent_factory=random_agent, seed=list(seeds), method=method,
                          reset_seeds=range(k * episodes, (k + 1) * episodes), progress=False)


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


def post_result(server, data: dict | bytes, token: str | None = "default") -> tuple[int, Any]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    status, payload, _ = request(server.url, "POST", "/api/submissions", body,
                                 server.token if token == "default" else token)
    return status, payload


def db_dump(path: Path) -> list[str]:
    """Every statement needed to rebuild the database: equal dumps, equal contents."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


class LiveServer:
    """A real threaded WSGI server for ``create_app`` on 127.0.0.1 with a free port."""

    def __init__(self, db_path: Path, **app_kwargs):
        self.db_path = db_path
        self.db = LeaderboardDB(db_path)
        self.token = self.db.add_token("tester")
        self._server = make_server("127.0.0.1", 0, create_app(db_path, **app_kwargs), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path / "board.sqlite", max_body_bytes=SMALL_BODY_LIMIT)
    yield live
    live.stop()


@pytest.fixture(scope="session")
def toy_result() -> Result:
    return make_result(0)
