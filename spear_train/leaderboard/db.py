"""SQLite storage of the leaderboard: submission tokens (hashed) and accepted submissions.

Every query is parameterised. The schema evolves through :data:`MIGRATIONS`, applied in order inside
one transaction each and tracked by ``PRAGMA user_version``; a database made by a newer spear-bench
(higher version) is refused instead of being altered. A :class:`LeaderboardDB` opens one connection
per call, so it is safe to share between server threads; ``content_hash`` is ``UNIQUE``, so two
concurrent identical submissions store one row and the other gets :class:`DuplicateSubmission`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

TOKEN_PREFIX = "slb_"

MIGRATIONS: list[str] = [
    # 1: tokens and submissions
    """
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL UNIQUE,
        env_id TEXT NOT NULL,
        env_version TEXT NOT NULL,
        method TEXT NOT NULL,
        model_name TEXT NOT NULL,
        preset TEXT NOT NULL,
        success_mean REAL NOT NULL,
        success_stderr REAL,
        score_mean REAL NOT NULL,
        score_stderr REAL,
        n_seeds INTEGER NOT NULL,
        n_episodes INTEGER NOT NULL,
        verified_env_version TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        token_id INTEGER NOT NULL REFERENCES tokens(id),
        result_json TEXT NOT NULL
    );
    """,
    # 2: the leaderboard query filters by env and sorts by success
    "CREATE INDEX submissions_env_success ON submissions (env_id, success_mean DESC, submitted_at);",
    # 3: the verification queue (a submission is accepted as a job, replayed by a worker, then stored)
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        token_id INTEGER NOT NULL REFERENCES tokens(id),
        content_hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'accepted', 'rejected')),
        reason TEXT, message TEXT, details_json TEXT,
        submission_id INTEGER REFERENCES submissions(id),
        body TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_status ON jobs (status, id);
    CREATE INDEX jobs_token ON jobs (token_id, created_at);
    """,
    # 4: the columns of the tables: track and setting, training steps, compute, graded score
    """
    ALTER TABLE submissions ADD COLUMN track TEXT NOT NULL DEFAULT 'paper';
    ALTER TABLE submissions ADD COLUMN setting TEXT NOT NULL DEFAULT '';
    ALTER TABLE submissions ADD COLUMN steps INTEGER;
    ALTER TABLE submissions ADD COLUMN device TEXT NOT NULL DEFAULT '';
    ALTER TABLE submissions ADD COLUMN wall_time_s REAL;
    ALTER TABLE submissions ADD COLUMN graded_score_mean REAL;
    ALTER TABLE submissions ADD COLUMN graded_score_stderr REAL;
    """,
]

SUMMARY_COLUMNS = (
    "id", "content_hash", "env_id", "env_version", "method", "model_name", "preset", "success_mean",
    "success_stderr", "score_mean", "score_stderr", "n_seeds", "n_episodes", "verified_env_version",
    "submitted_at", "track", "setting", "steps", "device", "wall_time_s", "graded_score_mean",
    "graded_score_stderr",
)
JOB_COLUMNS = ("id", "token_id", "content_hash", "status", "reason", "message", "details_json", "submission_id",
               "created_at", "updated_at")
IMPORT_TOKEN_NAME = "(repository import)"


class DatabaseError(Exception):
    """The database file cannot be used (newer schema, not a SQLite file, ...)."""


class DuplicateSubmission(Exception):
    """A submission with the same content hash is already stored; ``existing_id`` is its id."""

    def __init__(self, existing_id: int):
        super().__init__(f"an identical submission is already stored as #{existing_id}")
        self.existing_id = existing_id


@dataclass(frozen=True)
class Token:
    id: int
    name: str


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256 hex digests (they are 256-bit random, so no slow KDF is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class LeaderboardDB:
    """The leaderboard database at ``path`` (created and migrated on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise DatabaseError(f"folder {self.path.parent} does not exist")
        self.migrate()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit-off mode; commits on success, rolls back on error, always closes."""
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version now in the file."""
        try:
            with self.connect() as conn:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version > len(MIGRATIONS):
                        raise DatabaseError(
                            f"{self.path} has schema version {version}, newer than this spear-bench "
                            f"knows ({len(MIGRATIONS)}); upgrade spear-bench")
                    for number in range(version + 1, len(MIGRATIONS) + 1):
                        for statement in _statements(MIGRATIONS[number - 1]):
                            conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {number:d}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return len(MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path} is not a usable SQLite database: {exc}") from None

    # ------------------------------------------------------------------ tokens
    def add_token(self, name: str) -> str:
        """Create a token for ``name`` and return it (shown once; only its hash is stored)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.connect() as conn:
            try:
                conn.execute("INSERT INTO tokens (name, token_sha256, created_at) VALUES (?, ?, ?)",
                             (name, hash_token(token), _now()))
            except sqlite3.IntegrityError:
                raise ValueError(f"a token named {name!r} already exists") from None
        return token

    def check_token(self, token: str) -> Token | None:
        """The token's owner, or ``None`` for an unknown or revoked token."""
        with self.connect() as conn:
            row = conn.execute("SELECT id, name FROM tokens WHERE token_sha256 = ? AND revoked = 0",
                               (hash_token(token),)).fetchone()
        return Token(row["id"], row["name"]) if row else None

    def revoke_token(self, name: str) -> bool:
        with self.connect() as conn:
            return conn.execute("UPDATE tokens SET revoked = 1 WHERE name = ?", (name,)).rowcount > 0

    # ------------------------------------------------------------------ submissions
    def find_duplicate(self, content_hash: str) -> int | None:
        with self.connect() as conn:
            row = conn.execute("SELECT id FROM submissions WHERE content_hash = ?", (content_hash,)).fetchone()
        return row["id"] if row else None

    def add_submission(self, summary: dict[str, Any], result_json: str, token_id: int) -> int:
        """Store an accepted submission; raises :class:`DuplicateSubmission` when its hash is present."""
        cols = [c for c in SUMMARY_COLUMNS if c not in ("id", "submitted_at")]
        values = [summary[c] for c in cols] + [_now(), token_id, result_json]
        sql = (f"INSERT INTO submissions ({', '.join(cols)}, submitted_at, token_id, result_json) "
               f"VALUES ({', '.join('?' * (len(cols) + 3))})")
        with self.connect() as conn:
            try:
                return int(conn.execute(sql, values).lastrowid)
            except sqlite3.IntegrityError:
                existing = self.find_duplicate(summary["content_hash"])
                if existing is None:
                    raise
                raise DuplicateSubmission(existing) from None

    def leaderboard(self, env_id: str, track: str | None = None) -> list[dict[str, Any]]:
        """Summaries for ``env_id`` (one track, or all), best success first (ties: higher score, then earlier)."""
        where, params = ("env_id = ?", (env_id,)) if track is None else ("env_id = ? AND track = ?", (env_id, track))
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM submissions WHERE {where} "
                "ORDER BY success_mean DESC, score_mean DESC, submitted_at, id", params).fetchall()
        return [dict(r) for r in rows]

    def tracks(self, env_id: str) -> list[str]:
        with self.connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT track FROM submissions WHERE env_id = ?", (env_id,))]

    # ------------------------------------------------------------------ the verification queue
    def enqueue(self, token_id: int, content_hash: str, body: str) -> int:
        """Queue a submission for verification; returns the job id."""
        now = _now()
        with self.connect() as conn:
            return int(conn.execute(
                "INSERT INTO jobs (token_id, content_hash, status, body, created_at, updated_at) "
                "VALUES (?, ?, 'queued', ?, ?, ?)", (token_id, content_hash, body, now, now)).lastrowid)

    def pending_job(self, content_hash: str) -> int | None:
        """The id of a queued or running job with this content hash, if any."""
        with self.connect() as conn:
            row = conn.execute("SELECT id FROM jobs WHERE content_hash = ? AND status IN ('queued', 'running')",
                               (content_hash,)).fetchone()
        return row["id"] if row else None

    def token_activity(self, token_id: int, since: str) -> tuple[int, int]:
        """(jobs of this token still queued or running, jobs it created at or after ``since``)."""
        with self.connect() as conn:
            pending = conn.execute("SELECT COUNT(*) FROM jobs WHERE token_id = ? AND status IN ('queued', 'running')",
                                   (token_id,)).fetchone()[0]
            recent = conn.execute("SELECT COUNT(*) FROM jobs WHERE token_id = ? AND created_at >= ?",
                                  (token_id, since)).fetchone()[0]
        return int(pending), int(recent)

    def claim_job(self) -> tuple[int, int, str] | None:
        """Mark the oldest queued job running and return ``(job id, token id, body)``, or ``None``."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT id, token_id, body FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1"
                                   ).fetchone()
                if row is not None:
                    conn.execute("UPDATE jobs SET status = 'running', updated_at = ? WHERE id = ?", (_now(), row["id"]))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return (row["id"], row["token_id"], row["body"]) if row else None

    def finish_job(self, job_id: int, status: str, *, reason: str | None = None, message: str | None = None,
                   details: list[str] | None = None, submission_id: int | None = None) -> None:
        """Record a job's outcome (``accepted`` or ``rejected``) and drop its stored body."""
        with self.connect() as conn:
            conn.execute("UPDATE jobs SET status = ?, reason = ?, message = ?, details_json = ?, submission_id = ?, "
                         "body = NULL, updated_at = ? WHERE id = ?",
                         (status, reason, message, json.dumps(details or []), submission_id, _now(), job_id))

    def requeue_running(self) -> int:
        """Put jobs a stopped server left running back in the queue (at start-up); returns how many."""
        with self.connect() as conn:
            return conn.execute("UPDATE jobs SET status = 'queued', updated_at = ? WHERE status = 'running'",
                                (_now(),)).rowcount

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self.connect() as conn:
            row = conn.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["details"] = json.loads(out.pop("details_json") or "[]")
        return out

    def import_token_id(self) -> int:
        """The id of the (revoked, unusable) token that owns imported repository files; created on first use."""
        with self.connect() as conn:
            row = conn.execute("SELECT id FROM tokens WHERE name = ?", (IMPORT_TOKEN_NAME,)).fetchone()
            if row:
                return int(row["id"])
            return int(conn.execute("INSERT INTO tokens (name, token_sha256, created_at, revoked) VALUES (?, ?, ?, 1)",
                                    (IMPORT_TOKEN_NAME, hash_token(secrets.token_hex(32)), _now())).lastrowid)

    def env_ids(self) -> list[str]:
        with self.connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT env_id FROM submissions ORDER BY env_id")]

    def submission(self, submission_id: int) -> dict[str, Any] | None:
        """Summary plus ``result_json`` and the submitter's token name, or ``None``."""
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT {', '.join('s.' + c for c in SUMMARY_COLUMNS)}, s.result_json, t.name AS submitter "
                "FROM submissions s JOIN tokens t ON t.id = s.token_id WHERE s.id = ?",
                (submission_id,)).fetchone()
        return dict(row) if row else None

    def count_submissions(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0])


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
