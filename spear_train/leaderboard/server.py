"""The leaderboard web server: a Flask app over a :class:`~spear_train.leaderboard.db.LeaderboardDB`.

Routes
    ``POST /api/submissions``   body: a result JSON; header ``Authorization: Bearer <token>``.
                                The checks that need no replay run here (token, per-token rate limit,
                                body size, JSON nesting depth, schema, benchmark setting, episode list);
                                a submission that passes is queued: 202 ``{"job", "status", "status_url"}``.
                                Otherwise ``{"error", "reason", "details"}`` with 401 (missing/invalid
                                token), 429 (rate limit), 413 (body over the limit), 400 (malformed or too
                                deep JSON), 422 (schema, setting or episode-list problem), 409 (duplicate).
    ``GET /api/jobs/<id>``      a queued submission: ``status`` queued, running, accepted (with the new
                                row's ``id`` and ``url``) or rejected (with ``reason``, ``error``,
                                ``details``: replay, metrics, budget, ...). The worker
                                (:mod:`.worker`) replays jobs one at a time within a replay budget.
                                Nothing is stored as a submission unless accepted.
    ``GET /api/leaderboard?env=ID[&track=T]``  ranked rows per track for one env, JSON.
    ``GET /api/submissions/<id>``    the stored result document, JSON.
    ``GET /``, ``GET /leaderboard?env=ID``, ``GET /submissions/<id>``  HTML pages (sortable table,
                                verified badge, detail page). Templates autoescape every user string and a
                                Content-Security-Policy forbids inline scripts.

Replays run one at a time per app, off the request path (env engines are not guaranteed thread-safe);
request handling, database access and page rendering run concurrently. Ids beyond SQLite's integer range
are a 404.
"""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta, timezone
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from flask import Flask, abort, jsonify, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from spear_train.leaderboard.checks import check_depth
from spear_train.leaderboard.columns import format_steps, format_wall_time
from spear_train.leaderboard.db import LeaderboardDB
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.settings import TRACKS
from spear_train.leaderboard.verify import Rejection, ReplayBudget, check_before_replay
from spear_train.leaderboard.worker import VerifyWorker

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_ID = 2**63 - 1  # SQLite's largest integer: larger ids in a URL are a 404, not an overflow
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(
    db_path: str | Path,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    budget: ReplayBudget | None = None,
    max_pending: int = 3,
    max_per_window: int = 20,
    rate_window_s: float = 3600.0,
    start_worker: bool = True,
) -> Flask:
    """A Flask app serving the leaderboard stored in SQLite at ``db_path`` (created if absent).

    ``budget`` bounds each submission's replay; a token may have ``max_pending`` submissions queued or
    being verified and make ``max_per_window`` submissions per ``rate_window_s`` seconds (429 beyond).
    The verification worker (``app.extensions["leaderboard_worker"]``) starts unless ``start_worker`` is
    false; stop it with ``worker.stop()`` when the app is done.
    """
    here = Path(__file__).parent
    app = Flask(__name__, template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False
    db = LeaderboardDB(db_path)
    app.extensions["leaderboard_db"] = db
    worker = VerifyWorker(db, budget or ReplayBudget())
    app.extensions["leaderboard_worker"] = worker
    if start_worker:
        worker.start()

    @app.after_request
    def _security_headers(response):
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if not request.path.startswith("/api/"):
            return exc
        reason = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                  413: "body_too_large"}.get(exc.code or 500, "http_error")
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"request body exceeds the server's limit of {max_body_bytes} bytes"
        return _error(exc.code or 500, reason, message)

    # ---------------------------------------------------------------- API
    @app.post("/api/submissions")
    def submit():
        token = _bearer_token()
        if token is None:
            return _error(401, "missing_token", "missing 'Authorization: Bearer <token>' header",
                          headers={"WWW-Authenticate": 'Bearer realm="spear-bench"'})
        owner = db.check_token(token)
        if owner is None:
            return _error(401, "invalid_token", "the token is not valid (unknown or revoked)",
                          headers={"WWW-Authenticate": 'Bearer realm="spear-bench", error="invalid_token"'})
        since = (datetime.now(timezone.utc) - timedelta(seconds=rate_window_s)).isoformat(timespec="microseconds")
        pending, recent = db.token_activity(owner.id, since)
        if pending >= max_pending or recent >= max_per_window:
            why = (f"{pending} submission(s) of this token are still being verified (at most {max_pending})"
                   if pending >= max_pending else
                   f"this token made {recent} submissions in the last {rate_window_s:g} s (at most {max_per_window})")
            return _error(429, "rate_limited", why, headers={"Retry-After": str(int(min(rate_window_s, 60)))})
        body = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
        except RecursionError:
            return _error(400, "too_deep", "the body is not valid JSON: nested too deeply")
        try:
            check_depth(data)
            result = Result.model_validate(data)
            check_before_replay(result)
        except Rejection as rej:
            return _error(400 if rej.reason == "too_deep" else 422, rej.reason, rej.message, rej.details)
        except ValidationError as exc:
            return _error(422, "schema_invalid", f"the result does not match the schema "
                                                 f"({exc.error_count()} error(s))", _validation_details(exc))
        content_hash = result.content_hash()
        existing = db.find_duplicate(content_hash)
        if existing is not None:
            return _duplicate(existing)
        queued = db.pending_job(content_hash)
        if queued is not None:
            return _error(409, "duplicate", f"an identical submission (same episodes) is being verified as job "
                          f"#{queued}", [f"status: /api/jobs/{queued}"])
        job_id = db.enqueue(owner.id, content_hash, result.model_dump_json())
        worker.notify()
        return jsonify(_job_body(db.job(job_id), db)), 202, {"Location": url_for("job_json", job_id=job_id)}

    @app.get(f"/api/jobs/<int(max={MAX_ID}):job_id>")
    def job_json(job_id: int):
        job = db.job(job_id)
        if job is None:
            return _error(404, "not_found", f"no job #{job_id}")
        return jsonify(_job_body(job, db))

    @app.get("/api/leaderboard")
    def leaderboard_json():
        env_id = request.args.get("env")
        if not env_id:
            return _error(400, "missing_env", "query parameter 'env' is required",
                          [f"environments with submissions: {db.env_ids()}"])
        track = request.args.get("track")
        tracks = _track_order(db.tracks(env_id) if track is None else [track])
        rows = [r for t in tracks for r in _ranked_rows(db.leaderboard(env_id, t), env_id, url_for)]
        return jsonify({"env": env_id, "current_env_version": current_env_version(env_id), "tracks": tracks,
                        "rows": rows})

    @app.get(f"/api/submissions/<int(max={MAX_ID}):submission_id>")
    def submission_json(submission_id: int):
        row = db.submission(submission_id)
        if row is None:
            return _error(404, "not_found", f"no submission #{submission_id}")
        return app.response_class(row["result_json"], mimetype="application/json")

    # ---------------------------------------------------------------- HTML
    @app.get("/")
    def index():
        envs = [(e, len(db.leaderboard(e))) for e in db.env_ids()]
        return render_template("index.html", envs=envs)

    @app.get("/leaderboard")
    def leaderboard_page():
        env_id = request.args.get("env", "")
        if not env_id:
            abort(400, "query parameter 'env' is required")
        tables = [(t, _ranked_rows(db.leaderboard(env_id, t), env_id, url_for))
                  for t in _track_order(db.tracks(env_id))]
        return render_template("leaderboard.html", env_id=env_id, tables=tables,
                               show_graded=any(r["graded_score_mean"] is not None for _, rows in tables for r in rows),
                               current_version=current_env_version(env_id))

    @app.get(f"/submissions/<int(max={MAX_ID}):submission_id>")
    def submission_page(submission_id: int):
        row = db.submission(submission_id)
        if row is None:
            abort(404, f"no submission #{submission_id}")
        result = json.loads(row["result_json"])
        [ranked] = _ranked_rows([row], row["env_id"], url_for)
        return render_template("submission.html", row=row, ranked=ranked, result=result,
                               config_text=json.dumps(result.get("config", {}), indent=2, sort_keys=True),
                               fingerprint_text=json.dumps(result["env"].get("data_fingerprint", {}), indent=2))

    return app


def _job_body(job: dict[str, Any], db: LeaderboardDB) -> dict[str, Any]:
    """A job as the API shows it: status, and the outcome once there is one."""
    body = {"job": job["id"], "status": job["status"], "status_url": url_for("job_json", job_id=job["id"]),
            "created_at": job["created_at"], "updated_at": job["updated_at"]}
    if job["status"] == "accepted":
        row = db.submission(job["submission_id"]) or {}
        body.update(id=job["submission_id"],
                    url=url_for("submission_page", submission_id=job["submission_id"], _external=True),
                    **{k: row.get(k) for k in ("content_hash", "track", "setting", "success_mean", "success_stderr",
                                               "score_mean", "graded_score_mean")})
    elif job["status"] == "rejected":
        body.update(reason=job["reason"], error=job["message"], details=job["details"])
    return body


def _track_order(tracks: Iterable[str]) -> list[str]:
    return sorted(set(tracks), key=lambda t: (TRACKS.index(t) if t in TRACKS else len(TRACKS), t))


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _error(status: int, reason: str, message: str, details: Iterable[str] = (), headers: dict | None = None):
    response = jsonify({"error": message, "reason": reason, "details": list(details)})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _duplicate(existing_id: int):
    return _error(409, "duplicate", f"an identical submission (same episodes) is already stored as #{existing_id}",
                  [f"existing submission: /submissions/{existing_id}"])


def _validation_details(exc: ValidationError) -> list[str]:
    details = []
    for err in exc.errors(include_url=False)[:20]:
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        details.append(f"{where}: {err['msg']}")
    return details


def _ranked_rows(rows: list[dict[str, Any]], env_id: str, url_for: Callable[..., str]) -> list[dict[str, Any]]:
    """Rows of one track with competition ranks (equal success and score share a rank) and display fields."""
    current = current_env_version(env_id)
    out = []
    for row in rows:
        better = sum(1 for r in rows if (r["success_mean"], r["score_mean"]) > (row["success_mean"], row["score_mean"]))
        out.append({
            "rank": better + 1, "id": row["id"], "track": row["track"], "setting": row["setting"],
            "method": row["method"], "model": row["model_name"], "preset": row["preset"],
            "steps": row["steps"], "steps_text": format_steps(row["steps"]), "device": row["device"],
            "wall_time_s": row["wall_time_s"], "wall_time_text": format_wall_time(row["wall_time_s"]),
            "success_mean": row["success_mean"], "success_stderr": row["success_stderr"],
            "score_mean": row["score_mean"], "score_stderr": row["score_stderr"],
            "graded_score_mean": row["graded_score_mean"], "graded_score_stderr": row["graded_score_stderr"],
            "seeds": row["n_seeds"], "episodes": row["n_episodes"], "env_version": row["env_version"],
            "submitted_at": row["submitted_at"], "date": row["submitted_at"][:10],
            "verified": current is not None and row["verified_env_version"] == current,
            "url": url_for("submission_page", submission_id=row["id"]),
        })
    return out


@lru_cache(maxsize=None)
def current_env_version(env_id: str) -> str | None:
    """The ``env_version`` this process runs for ``env_id`` (``None`` when the id is not registered).

    Read from the env class without building an env; an entry point that is a factory function is built once.
    """
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    if env_id not in gym.registry:
        return None
    entry = gym.spec(env_id).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    if isinstance(creator, type):
        return str(getattr(creator, "env_version", ""))
    env = gym.make(env_id)
    try:
        return str(getattr(env.unwrapped, "env_version", ""))
    finally:
        env.close()


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8080, *,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, on_ready: Callable[[str], None] | None = None,
          **app_kwargs: Any) -> None:
    """Run the app on a threaded WSGI server until interrupted; ``on_ready(url)`` is called once listening.
    ``app_kwargs`` go to :func:`create_app` (replay budget, rate limits).

    SIGINT (Ctrl-C) and SIGTERM both stop it cleanly and return. SIGTERM matters where SIGINT cannot
    arrive: service managers send it, and a process started in the background of a non-interactive shell
    inherits SIGINT as ignored. (Signal handlers are installed only when called from the main thread.)
    """
    from werkzeug.serving import make_server

    app = create_app(db_path, max_body_bytes=max_body_bytes, **app_kwargs)
    server = make_server(host, port, app, threaded=True)
    url = f"http://{host}:{server.server_port}"
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    if on_ready:
        on_ready(url)
    try:
        server.serve_forever()  # werkzeug's returns on KeyboardInterrupt
    finally:
        server.server_close()
        app.extensions["leaderboard_worker"].stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
