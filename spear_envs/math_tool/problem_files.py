"""Load math problems from user files (``.jsonl`` / ``.json`` lines, or ``.parquet``).

Recognised layouts (the first matching column wins):

* problem text: ``problem``, ``Problem``, ``question``, ``Question``, or a ``prompt`` chat list (the
  DAPO-Math / verl layout: the content of its last user message) or ``prompt`` string;
* answer: ``answer``, ``Answer``, ``ground_truth``, or ``reward_model.ground_truth`` (DAPO-Math);
* id (optional): ``id``, ``ID``, ``problem_id``, ``extra_info.index``; else the row number.

So AIME 2024 (``Maxwell-Jia/AIME_2024``: ``ID``, ``Problem``, ``Answer``), AIME 2025
(``yentinglin/aime_2025``: ``problem``, ``answer``) and DAPO-Math-17k rows load as they are. Problems
with a blank answer or text are errors (with the row number), never silently skipped.
Parquet needs ``pyarrow``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from spear_envs.math_tool.problem_generator import MathProblem

PROBLEM_KEYS = ("problem", "Problem", "question", "Question", "prompt")
ANSWER_KEYS = ("answer", "Answer", "ground_truth", "reward_model.ground_truth")
ID_KEYS = ("id", "ID", "problem_id", "extra_info.index")


class ProblemFileError(ValueError):
    """A problem file is missing, unreadable, empty or lacks the needed columns."""


def load_problems(path: str | Path) -> list[MathProblem]:
    """Every problem in ``path``, in file order; raises :class:`ProblemFileError` saying what is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ProblemFileError(f"problem file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = _read_jsonl(path)
    elif suffix == ".parquet":
        rows = _read_parquet(path)
    else:
        raise ProblemFileError(f"{path.name}: unsupported file type {suffix!r}; use .jsonl or .parquet")
    if not rows:
        raise ProblemFileError(f"{path.name} holds no problems")
    problem_key = _first_key(rows[0], PROBLEM_KEYS)
    answer_key = _first_key(rows[0], ANSWER_KEYS)
    missing = [what for what, key in (("problem", problem_key), ("answer", answer_key)) if key is None]
    if missing:
        raise ProblemFileError(
            f"{path.name}: no {' or '.join(missing)} column. Looked for problem in {list(PROBLEM_KEYS)} and "
            f"answer in {list(ANSWER_KEYS)}; the first row has {sorted(_flat_keys(rows[0]))}"
        )
    id_key = _first_key(rows[0], ID_KEYS)
    source = path.stem
    problems = []
    for i, row in enumerate(rows):
        text = _problem_text(_get(row, problem_key), path.name, i)
        answer = _get(row, answer_key)
        if answer is None or not str(answer).strip():
            raise ProblemFileError(f"{path.name}, row {i}: the answer ({answer_key}) is empty")
        raw_id = _get(row, id_key) if id_key else None
        pid = f"{source}-{raw_id if raw_id is not None else i}"
        problems.append(MathProblem(text, str(answer).strip(), pid, source))
    return problems


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a problem file's bytes (what a leaderboard record names as its data)."""
    return hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):  # a whole-file JSON array is accepted too
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        rows = data
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ProblemFileError(f"{path.name}, line {lineno}: not valid JSON ({exc.msg})") from None
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ProblemFileError(f"{path.name}, row {i}: expected a JSON object, got {type(row).__name__}")
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ProblemFileError("reading .parquet files needs pyarrow: pip install pyarrow") from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise ProblemFileError(f"{path.name}: not a readable parquet file ({exc})") from None


def _get(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _first_key(row: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if _get(row, k) is not None), None)


def _flat_keys(row: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for k, v in row.items():
        keys.append(prefix + k)
        if isinstance(v, dict):
            keys += _flat_keys(v, f"{prefix}{k}.")
    return keys


def _problem_text(value: Any, name: str, i: int) -> str:
    """The problem text from a string or a chat list (content of its last user message)."""
    if isinstance(value, (list, tuple)):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        value = users[-1] if users else None
    if not isinstance(value, str) or not value.strip():
        raise ProblemFileError(f"{name}, row {i}: the problem text is empty or not a string")
    return value.strip()
