"""``spear-bench leaderboard import``: seed a server's database from the repository's result files.

Each file is validated and verified by replay exactly as the server's worker does
(:func:`~.verify.verify_result`), then stored under the reserved, revoked ``(repository import)`` token.
Files whose evidence is already stored are skipped, so importing twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from spear_train.leaderboard.columns import submission_summary
from spear_train.leaderboard.db import DuplicateSubmission, LeaderboardDB
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.verify import Rejection, verify_result


@dataclass
class ImportOutcome:
    path: Path
    status: str  # imported | present | failed
    detail: str


def import_folder(folder: str | Path, db_path: str | Path,
                  progress: Callable[[str], None] | None = None) -> list[ImportOutcome]:
    """Verify and store every ``*.json`` of ``folder``; returns one outcome per file (sorted by name)."""
    db = LeaderboardDB(db_path)
    token_id = db.import_token_id()
    outcomes = []
    paths = sorted(Path(folder).glob("*.json"))
    for i, path in enumerate(paths):
        outcome = _import_one(db, token_id, path)
        outcomes.append(outcome)
        if progress is not None:
            progress(f"[{i + 1}/{len(paths)}] {path.name}: {outcome.status} ({outcome.detail})")
    return outcomes


def _import_one(db: LeaderboardDB, token_id: int, path: Path) -> ImportOutcome:
    try:
        result = Result.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        return ImportOutcome(path, "failed", f"not a valid result: {str(exc).splitlines()[0]}")
    existing = db.find_duplicate(result.content_hash())
    if existing is not None:
        return ImportOutcome(path, "present", f"stored as #{existing}")
    try:
        verification = verify_result(result)
        new_id = db.add_submission(submission_summary(result, verification), result.model_dump_json(), token_id)
    except Rejection as rej:
        return ImportOutcome(path, "failed", f"{rej.reason}: {rej.message}")
    except DuplicateSubmission as dup:
        return ImportOutcome(path, "present", f"stored as #{dup.existing_id}")
    return ImportOutcome(path, "imported", f"#{new_id}, {verification.setting.track} track")
