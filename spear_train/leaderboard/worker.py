"""The verification worker: replays queued submissions off the request path, one at a time.

The server stores an accepted request as a ``queued`` job (:meth:`LeaderboardDB.enqueue`) and answers at
once; :class:`VerifyWorker`, a background thread, claims the oldest job, verifies it within the
:class:`~.verify.ReplayBudget`, and records the outcome: an ``accepted`` job points at its new
submission row, a ``rejected`` one carries the reason, message and details. Jobs survive restarts: a
job left ``running`` by a stopped server is queued again at start-up. Replays run one at a time (env
engines are not guaranteed thread-safe), so the budget bounds how long any job can delay the next.
"""

from __future__ import annotations

import json
import logging
import threading

from pydantic import ValidationError

from spear_train.leaderboard.columns import submission_summary
from spear_train.leaderboard.db import DuplicateSubmission, LeaderboardDB
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.verify import Rejection, ReplayBudget, verify_result

log = logging.getLogger(__name__)


def process_job(db: LeaderboardDB, job_id: int, token_id: int, body: str, budget: ReplayBudget) -> str:
    """Verify one claimed job and record its outcome; returns the final status."""
    try:
        result = Result.model_validate(json.loads(body))
        verification = verify_result(result, budget=budget)
        summary = submission_summary(result, verification)
        new_id = db.add_submission(summary, result.model_dump_json(), token_id)
    except Rejection as rej:
        db.finish_job(job_id, "rejected", reason=rej.reason, message=rej.message, details=rej.details)
        return "rejected"
    except DuplicateSubmission as dup:
        db.finish_job(job_id, "rejected", reason="duplicate",
                      message=f"an identical submission (same episodes) is already stored as #{dup.existing_id}",
                      details=[f"existing submission: /submissions/{dup.existing_id}"])
        return "rejected"
    except (ValueError, ValidationError) as exc:  # the request checks passed it, so this is a server bug
        db.finish_job(job_id, "rejected", reason="internal_error", message=f"the result could not be read: {exc}")
        return "rejected"
    except Exception as exc:  # noqa: BLE001 - never lose a job silently: record what happened
        log.exception("verification of job %s failed", job_id)
        db.finish_job(job_id, "rejected", reason="internal_error",
                      message=f"verification failed on the server: {type(exc).__name__}: {exc}")
        return "rejected"
    db.finish_job(job_id, "accepted", submission_id=new_id)
    return "accepted"


class VerifyWorker:
    """A daemon thread draining the job queue of ``db``; :meth:`notify` wakes it, :meth:`stop` ends it."""

    def __init__(self, db: LeaderboardDB, budget: ReplayBudget, *, poll_s: float = 2.0):
        self.db, self.budget, self.poll_s = db, budget, poll_s
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leaderboard-verify", daemon=True)

    def start(self) -> "VerifyWorker":
        requeued = self.db.requeue_running()
        if requeued:
            log.warning("re-queued %d job(s) a previous server left running", requeued)
        self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the current job (a job cut off by process exit is re-queued at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            claimed = self.db.claim_job()
            if claimed is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            process_job(self.db, *claimed, self.budget)
