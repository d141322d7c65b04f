"""The leaderboard web server: a Flask app over a :class:`~spear_train.leaderboard.db.LeaderboardDB`.

Routes
    ``POST /api/submissions``   body: a result JSON; header ``Authorization: Bearer <token>``.
                                201 ``{"id", "url", "content_hash", "metrics"}`` when accepted; otherwise
                                ``{"error", "reason", "details"}`` with 401 (missing/invalid token),
                                413 (body over the limit), 400 (malformed JSON), 422 (schema, env,
                                replay or metrics problem), 409 (duplicate). Nothing is stored unless accepted.
    ``GET /api/leaderboard?env=ID``  ranked rows for one env, JSON.
    ``GET /api/submissions/<id>``    the stored result document, JSON.
    ``GET /``, ``GET /leaderboard?env=ID``, ``GET /submissions/<id>``  HTML pages (sortable table,
                                verified badge, detail page). Templates autoescape every user string and a
                                Content-Security-Policy forbids inline scripts.

Replays run one at a time per app (env engines are not guaranteed thread-safe); request handling,
database access and page rendering run concurrently.
"""

from __future__ import annotations

import json
import signal
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from flask import Flask, abort, jsonify, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from spear_train.leaderboard.db import DuplicateSubmission, LeaderboardDB
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.verify import DEFAULT_ALLOWED_EXTRA_KWARGS, Rejection, verify_result

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
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
    allowed_extra_kwargs: Iterable[str] = DEFAULT_ALLOWED_EXTRA_KWARGS,
) -> Flask:
    """A Flask app serving the leaderboard stored in SQLite at ``db_path`` (created if absent)."""
    here = Path(__file__).parent
    app = Flask(__name__, template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False
    db = LeaderboardDB(db_path)
    app.extensions["leaderboard_db"] = db
    verify_lock = threading.Lock()
    extra_kwargs = tuple(allowed_extra_kwargs)

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
        body = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
        except RecursionError:
            return _error(400, "malformed_json", "the body is not valid JSON: nested too deeply")
        try:
            result = Result.model_validate(data)
        except ValidationError as exc:
            return _error(422, "schema_invalid", f"the result does not match the schema "
                                                 f"({exc.error_count()} error(s))", _validation_details(exc))
        existing = db.find_duplicate(result.content_hash())
        if existing is not None:
            return _duplicate(existing)
        try:
            with verify_lock:
                verification = verify_result(result, allowed_extra_kwargs=extra_kwargs)
        except Rejection as rej:
            return _error(422, rej.reason, rej.message, rej.details)
        summary = {
            "content_hash": verification.content_hash, "env_id": result.env.id,
            "env_version": result.env.version, "method": result.method, "model_name": result.model.name,
            "preset": result.preset, "success_mean": verification.metrics.success_mean,
            "success_stderr": verification.metrics.success_stderr,
            "score_mean": verification.metrics.score_mean, "score_stderr": verification.metrics.score_stderr,
            "n_seeds": len(result.seeds), "n_episodes": verification.episodes,
            "verified_env_version": verification.env_version,
        }
        try:
            new_id = db.add_submission(summary, result.model_dump_json(), owner.id)
        except DuplicateSubmission as dup:  # an identical submission won a race with this one
            return _duplicate(dup.existing_id)
        body = {"id": new_id, "url": url_for("submission_page", submission_id=new_id, _external=True),
                "content_hash": verification.content_hash, "metrics": verification.metrics.model_dump()}
        return jsonify(body), 201

    @app.get("/api/leaderboard")
    def leaderboard_json():
        env_id = request.args.get("env")
        if not env_id:
            return _error(400, "missing_env", "query parameter 'env' is required",
                          [f"environments with submissions: {db.env_ids()}"])
        return jsonify({"env": env_id, "current_env_version": current_env_version(env_id),
                        "rows": _ranked_rows(db.leaderboard(env_id), env_id, url_for)})

    @app.get("/api/submissions/<int:submission_id>")
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
        rows = _ranked_rows(db.leaderboard(env_id), env_id, url_for)
        return render_template("leaderboard.html", env_id=env_id, rows=rows,
                               current_version=current_env_version(env_id))

    @app.get("/submissions/<int:submission_id>")
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
    """Rows with competition ranks (equal success and score share a rank) and display fields."""
    current = current_env_version(env_id)
    out = []
    for i, row in enumerate(rows):
        better = sum(1 for r in rows if (r["success_mean"], r["score_mean"]) > (row["success_mean"], row["score_mean"]))
        out.append({
            "rank": better + 1, "id": row["id"], "method": row["method"], "model": row["model_name"],
            "preset": row["preset"], "success_mean": row["success_mean"], "success_stderr": row["success_stderr"],
            "score_mean": row["score_mean"], "score_stderr": row["score_stderr"], "seeds": row["n_seeds"],
            "episodes": row["n_episodes"], "env_version": row["env_version"],
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
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, on_ready: Callable[[str], None] | None = None) -> None:
    """Run the app on a threaded WSGI server until interrupted; ``on_ready(url)`` is called once listening.

    SIGINT (Ctrl-C) and SIGTERM both stop it cleanly and return. SIGTERM matters where SIGINT cannot
    arrive: service managers send it, and a process started in the background of a non-interactive shell
    inherits SIGINT as ignored. (Signal handlers are installed only when called from the main thread.)
    """
    from werkzeug.serving import make_server

    server = make_server(host, port, create_app(db_path, max_body_bytes=max_body_bytes), threaded=True)
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
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
