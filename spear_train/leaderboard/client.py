"""Submitting a result file to a leaderboard server (what ``spear-bench submit`` runs).

:func:`submit` validates the file locally first (so schema mistakes are caught without a round trip),
POSTs it, and -- the server verifies queued submissions in the background -- polls the job's status
until it is accepted or rejected. Every failure raises :class:`SubmitError` with a message that says
what went wrong and what to do: file unreadable, not JSON, schema invalid, server unreachable, token
missing or refused, rate limited, body too large, not the benchmark's task list, replay or metrics
mismatch, replay budget exceeded, duplicate.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from spear_train.leaderboard.schema import Result


class SubmitError(Exception):
    """A submission failed; ``reason`` is the server's (or the client's) machine code."""

    def __init__(self, message: str, reason: str = "error", details: list[str] | None = None):
        super().__init__(message)
        self.reason = reason
        self.details = details or []

    def __str__(self) -> str:
        lines = [self.args[0]] + [f"  - {d}" for d in self.details]
        return "\n".join(lines)


_REASON_HINTS = {
    "missing_token": "pass --token (ask the leaderboard operator for one)",
    "invalid_token": "the server does not know this token, or it was revoked",
    "body_too_large": "the result file is larger than the server accepts",
    "malformed_json": "the file is not valid JSON",
    "schema_invalid": "the result does not match the result schema",
    "unknown_env": "the server does not run this environment",
    "unknown_env_version": "the result was made with another version of the environment",
    "env_kwargs_not_allowed": "the env was built with non-benchmark settings",
    "bad_env_kwargs": "the env could not be built with the result's settings",
    "data_fingerprint_mismatch": "the result was made on different task data",
    "replay_error": "the server could not replay an episode",
    "replay_mismatch": "the server replayed your episodes and got different rewards",
    "metrics_mismatch": "the claimed metrics do not match the replayed episodes",
    "duplicate": "these episodes were submitted before",
    "rate_limited": "wait a while (the server limits submissions per token) and submit again",
    "too_deep": "the document nests deeper than any result file does",
    "training_split": "evaluate on the held-out split (what `spear-bench eval`/`run` do)",
    "task_list_mismatch": "a run must hold every evaluation episode (reset seeds 0..N-1), each once",
    "too_few_episodes": "evaluate with at least the track's number of episodes",
    "unfinished_episode": "every episode must run until the env ends it",
    "noncanonical_options": "episodes must be reset with the evaluation's own task options",
    "duplicate_runs": "each seed must be a run of its own",
    "replay_budget_exceeded": "the replay needed more tool calls or time than the server allows",
}


def load_result(path: str | Path) -> tuple[Result, bytes]:
    """Read and validate a result file; returns the model and the exact bytes to send."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SubmitError(f"cannot read {path}: {exc.strerror or exc}", "file_error") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise SubmitError(f"{path} is not valid JSON: nested too deeply", "malformed_json") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SubmitError(f"{path} is not valid JSON: {exc}", "malformed_json") from None
    try:
        return Result.model_validate(data), raw
    except ValidationError as exc:
        details = [f"{'.'.join(map(str, e['loc'])) or '(document)'}: {e['msg']}"
                   for e in exc.errors(include_url=False)[:20]]
        raise SubmitError(f"{path} is not a valid spear-bench result ({exc.error_count()} error(s))",
                          "schema_invalid", details) from None


def submit(path: str | Path, server: str, token: str, *, timeout: float = 600.0,
           poll_s: float = 1.0, on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Send the result at ``path`` to ``server`` (base URL) and wait up to ``timeout`` seconds for the
    verdict; returns the accepted job's JSON (``id``, ``url``) or raises :class:`SubmitError`.
    ``on_status(job)`` is called with each new status (queued, running, ...)."""
    if not token:
        raise SubmitError("no token given: pass --token (ask the leaderboard operator for one)", "missing_token")
    _, raw = load_result(path)
    job = post_result(raw, server, token, timeout=timeout)
    return wait_for_job(job, server, timeout=timeout, poll_s=poll_s, on_status=on_status)


def wait_for_job(job: dict[str, Any], server: str, *, timeout: float = 600.0, poll_s: float = 1.0,
                 on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Poll ``job`` (a POST answer) until accepted (returned) or rejected (:class:`SubmitError`)."""
    deadline = time.monotonic() + timeout
    seen = None
    while True:
        if job["status"] != seen and on_status is not None:
            on_status(job)
        seen = job["status"]
        if job["status"] == "accepted":
            return job
        if job["status"] == "rejected":
            reason = job.get("reason", "error")
            hint = _REASON_HINTS.get(reason)
            text = f"rejected ({reason}): {job.get('error', '')}" + (f" — {hint}" if hint else "")
            raise SubmitError(text, reason, list(job.get("details", [])))
        if time.monotonic() > deadline:
            raise SubmitError(f"job #{job['job']} is still {job['status']} after {timeout:g} s; check it later at "
                              f"{server.rstrip('/')}{job['status_url']}", "timeout")
        time.sleep(poll_s)
        job = _get_json(server.rstrip("/") + job["status_url"], timeout=timeout)


def post_result(body: bytes, server: str, token: str, *, timeout: float = 600.0) -> dict[str, Any]:
    """POST raw result bytes; returns the queued job's JSON or raises :class:`SubmitError`."""
    url = server.rstrip("/") + "/api/submissions"
    if not url.startswith(("http://", "https://")):
        raise SubmitError(f"server URL must start with http:// or https://, got {server!r}", "bad_url")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise _http_failure(exc) from None
    except urllib.error.URLError as exc:
        raise SubmitError(f"could not connect to {server}: {exc.reason}; is the server running and the URL right?",
                          "connection_error") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise SubmitError(f"the connection to {server} failed: {exc}", "connection_error") from None


def _get_json(url: str, *, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise _http_failure(exc) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise SubmitError(f"lost the connection to {url} while waiting for the verdict: {exc}",
                          "connection_error") from None


def _http_failure(exc: urllib.error.HTTPError) -> SubmitError:
    try:
        payload = json.loads(exc.read())
        reason, message, details = payload["reason"], payload["error"], list(payload.get("details", []))
    except (ValueError, KeyError, TypeError, OSError):
        return SubmitError(f"the server answered HTTP {exc.code} {exc.reason} (not a spear-bench leaderboard?)",
                           "http_error")
    hint = _REASON_HINTS.get(reason)
    prefix = f"rejected (HTTP {exc.code}, {reason})"
    text = f"{prefix}: {message}" + (f" — {hint}" if hint else "")
    return SubmitError(text, reason, details)
