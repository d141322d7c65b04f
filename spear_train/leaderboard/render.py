"""The repository tables: ``leaderboards/submissions/*.json`` -> ``leaderboards/<env>.md``.

Accepted results are kept as JSON files (one per result, named by env, method and content hash).
:func:`render_all` re-verifies each by replay (unless ``verify=False``) and writes one Markdown page
per env with one table per track (paper, laptop), ranked by success. A file that fails verification for
any reason other than an outdated env version stops the render with its name and the reason, and no
table is written.

Each set of episodes is published once (:class:`DuplicateEvidence`). A method whose run played exactly the
episodes of a published row (e.g. an algorithm whose extra parts never act on an env) keeps its own file in
``submissions/same-episodes/`` (:func:`add_same_episodes`): it is verified like any other, must have its twin
among the published files, and shows as its own row marked "same episodes as" that row. The server and
``spear-bench leaderboard import`` hold the published file only, as they refuse the same episodes twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from spear_train.leaderboard.checks import find_setting
from spear_train.leaderboard.columns import device, format_steps, format_wall_time, training_steps
from spear_train.leaderboard.schema import Result, mean_and_stderr
from spear_train.leaderboard.settings import TRACKS
from spear_train.leaderboard.verify import Rejection, Verification, verify_result

STATUS_TEXT = {"verified": "✅ replayed", "outdated": "⚠️ outdated env version", "unchecked": "not re-verified"}

#: Sub-folder of a submissions folder for results whose episodes equal a published file's (see the docstring).
SAME_EPISODES_DIR = "same-episodes"


class RenderError(Exception):
    """A submission file is unreadable, invalid, or fails verification."""


class DuplicateEvidence(RenderError):
    """These episodes are already published under another name (``existing``). The server and ``spear-bench
    leaderboard import`` refuse a second submission of the same evidence (same setting, seeds, options and
    actions), whatever its label, so the repository publishes each once; a second method that played these
    very episodes goes to ``same-episodes/`` (:func:`add_same_episodes`)."""

    def __init__(self, message: str, existing: Path):
        super().__init__(message)
        self.existing = existing


@dataclass
class Entry:
    path: Path
    result: Result
    status: str  # a key of STATUS_TEXT
    track: str
    graded: tuple[float, float | None] | None = None
    verification: Verification | None = None
    same_as: "Entry | None" = None  # the published row whose episodes this one played (same-episodes/ files)


def env_slug(env_id: str) -> str:
    """File-name form of an env id: ``spear/ALFWorld-v0`` -> ``ALFWorld-v0``; other ``a/b`` -> ``a__b``."""
    name = env_id.removeprefix("spear/").replace("/", "__")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def submission_filename(result: Result) -> str:
    method = re.sub(r"[^A-Za-z0-9]+", "-", result.method).strip("-").lower()[:40] or "result"
    return f"{env_slug(result.env.id)}__{method}__{result.content_hash()[:12]}.json"


def add_to_repository(result: Result, submissions_dir: str | Path) -> Path:
    """Write ``result`` into ``submissions_dir`` under its canonical name (overwrites the same evidence only);
    :class:`DuplicateEvidence` when another file there holds the same episodes under another name."""
    folder = Path(submissions_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / submission_filename(result)
    twin = published_twin(result, folder, besides=path)
    if twin is not None:
        raise DuplicateEvidence(f"{twin.name} already holds these episodes (method {result.method!r} "
                                f"played exactly what it records); not written (see {SAME_EPISODES_DIR}/)", twin)
    _write_atomically(result, path)
    return path


def add_same_episodes(result: Result, submissions_dir: str | Path) -> Path:
    """Write ``result`` into ``submissions_dir/same-episodes/`` under its canonical name: a row for a method
    that played exactly the episodes of a file already published in ``submissions_dir`` (its *twin*).
    :class:`RenderError` when no published file holds these episodes (publish it with
    :func:`add_to_repository` instead) or when the result is that very file under the same name."""
    folder = Path(submissions_dir)
    twin = published_twin(result, folder)
    if twin is None:
        raise RenderError(f"no file in {folder} holds the episodes of {result.method!r}; publish it there "
                          "(leaderboard verify --add), not in same-episodes/")
    if twin.name == submission_filename(result):
        raise RenderError(f"{twin.name} is this very result; it is published already")
    path = folder / SAME_EPISODES_DIR / submission_filename(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(result, path)
    return path


def published_twin(result: Result, submissions_dir: str | Path, besides: Path | None = None) -> Path | None:
    """The published file (directly in ``submissions_dir``, other than ``besides``) holding the same episodes
    as ``result``, if any."""
    content = result.content_hash()
    for other in sorted(Path(submissions_dir).glob(f"*__{content[:12]}.json")):
        if other != besides and Result.model_validate_json(other.read_bytes()).content_hash() == content:
            return other
    return None


def _write_atomically(result: Result, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(result.to_json(indent=None) + "\n", encoding="utf-8")
    tmp.replace(path)


def submission_paths(submissions_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """``(published, same_episodes)``: the ``*.json`` files of ``submissions_dir`` and of its
    ``same-episodes/`` folder, each sorted by name."""
    folder = Path(submissions_dir)
    return sorted(folder.glob("*.json")), sorted((folder / SAME_EPISODES_DIR).glob("*.json"))


def load_entries(submissions_dir: str | Path, *, verify: bool = True,
                 progress: Callable[[str], None] | None = None) -> list[Entry]:
    """Every ``*.json`` in ``submissions_dir`` and its ``same-episodes/`` folder, validated and (by default)
    re-verified by replay; a same-episodes file without its published twin stops the render."""
    folder = Path(submissions_dir)
    published, same_episodes = submission_paths(folder)
    paths = published + same_episodes
    entries = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(f"[{i + 1}/{len(paths)}] {'verifying' if verify else 'reading'} "
                     f"{path.relative_to(folder).as_posix()}")
        try:
            result = Result.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise RenderError(f"{path}: not a valid result: {exc}") from None
        status, verification = "unchecked", None
        try:
            track = find_setting(result).track
            if verify:
                verification = verify_result(result)
                status = "verified"
        except Rejection as rej:
            if rej.reason != "unknown_env_version":
                raise RenderError(f"{path}: fails verification ({rej.reason}): {rej.message}; "
                                  + "; ".join(rej.details[:3])) from None
            status = "outdated"
        graded = verification.graded_score if verification else _claimed_graded(result, track)
        entries.append(Entry(path, result, status, track, graded, verification))
    seen: dict[str, Entry] = {}
    for entry in entries[:len(published)]:
        first = seen.setdefault(entry.result.content_hash(), entry)
        if first is not entry:
            raise RenderError(f"{entry.path}: holds the same episodes as {first.path.name}; the server would "
                              f"refuse it as a duplicate, so publish one of them and move the other to "
                              f"{SAME_EPISODES_DIR}/")
    for entry in entries[len(published):]:
        entry.same_as = seen.get(entry.result.content_hash())
        if entry.same_as is None:
            raise RenderError(f"{entry.path}: no published file holds its episodes; a {SAME_EPISODES_DIR}/ file "
                              "stands beside the published row whose episodes it played")
    return entries


def _claimed_graded(result: Result, track: str) -> tuple[float, float | None] | None:
    """The graded score as the records claim it (for unverified rows), when the setting has one."""
    from spear_train.leaderboard.settings import get_setting

    key = get_setting(result.env.id, track).graded_score_key
    if key is None:
        return None
    per_seed = [sum(float(ep.final_info.get(key) or 0.0) for ep in r.episodes) / len(r.episodes) for r in result.runs]
    return mean_and_stderr(per_seed)


def render_all(submissions_dir: str | Path, out_dir: str | Path, *, verify: bool = True,
               progress: Callable[[str], None] | None = None) -> list[Path]:
    """(Re)write ``out_dir/<env>.md`` for every env with submissions; returns the written paths."""
    by_env: dict[str, list[Entry]] = {}
    for entry in load_entries(submissions_dir, verify=verify, progress=progress):
        by_env.setdefault(entry.result.env.id, []).append(entry)
    written = []
    for env_id, entries in sorted(by_env.items()):
        path = Path(out_dir) / f"{env_slug(env_id)}.md"
        path.write_text(render_page(env_id, entries), encoding="utf-8")
        written.append(path)
    return written


def render_page(env_id: str, entries: list[Entry]) -> str:
    """The Markdown page for one env: one ranked table per track, paper first."""
    graded = any(e.graded is not None for e in entries)
    lines = [
        f"# {md_escape(env_id)}",
        "",
        "Generated by `spear-bench leaderboard render` from `leaderboards/submissions/`; do not edit by hand.",
        "One table per track: **paper** (the benchmark setting, `spear-bench eval --scale paper`) and **laptop**",
        "(exactly what `spear-bench run`'s laptop evaluation plays). Success: mean over seeds ± standard error",
        "(— with one seed). Return: mean total env reward per episode."
        + (" Graded score: the env's 0-1 score (`info[\"score\"]`), mean over seeds ± SE." if graded else ""),
        "Steps: RL training steps (0: the shipped policy with no RL; —: a scripted agent).",
    ]
    if any(e.same_as is not None for e in entries):
        lines.append("\"Same episodes as\": a method whose runs played exactly the episodes of another row, "
                     "listed with its own file (the server keeps that evidence once, under the other row).")
    tracks = sorted({e.track for e in entries}, key=lambda t: (TRACKS.index(t) if t in TRACKS else len(TRACKS), t))
    for track in tracks:
        lines += ["", f"## {md_escape(track)} track", "", *render_table([e for e in entries if e.track == track],
                                                                        graded)]
    return "\n".join(lines) + "\n"


def render_table(entries: list[Entry], graded: bool = False) -> list[str]:
    """The ranked Markdown table of one track: by success mean, then return."""
    ranked = sorted(entries, key=lambda e: (-e.result.metrics.success_mean, -e.result.metrics.score_mean,
                                            e.result.created_at))
    head = ["Rank", "Method", "Model", "Preset", "Steps", "Device", "Wall time", "Success (%)"]
    head += ["Graded score"] if graded else []
    head += ["Return", "Seeds", "Episodes/seed", "Env version", "Date", "Verified", "File"]
    align = ["---:", "---", "---", "---", "---:", "---", "---:", "---:"] + (["---:"] if graded else [])
    align += ["---:", "---:", "---:", "---", "---", "---", "---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for entry in ranked:
        r, m = entry.result, entry.result.metrics
        better = sum(1 for o in ranked if (o.result.metrics.success_mean, o.result.metrics.score_mean)
                     > (m.success_mean, m.score_mean))
        cells = [str(better + 1), md_escape(r.method), md_escape(r.model.name), md_escape(r.preset),
                 format_steps(training_steps(r)), md_escape(device(r)), format_wall_time(r.wall_time_s),
                 _pm(100 * m.success_mean, None if m.success_stderr is None else 100 * m.success_stderr, 1)]
        if graded:
            cells.append(_pm(*entry.graded, 3) if entry.graded is not None else "—")
        cells += [_pm(m.score_mean, m.score_stderr, 3), str(len(r.seeds)), str(m.per_seed[0].episodes),
                  md_escape(r.env.version), r.created_at.date().isoformat(), _verified_cell(entry),
                  f"[json](submissions/{_link(entry)})"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _verified_cell(entry: Entry) -> str:
    if entry.same_as is None:
        return STATUS_TEXT[entry.status]
    return f"{STATUS_TEXT[entry.status]}; same episodes as the {md_escape(entry.same_as.result.preset)} row"


def _link(entry: Entry) -> str:
    return f"{SAME_EPISODES_DIR}/{entry.path.name}" if entry.same_as is not None else entry.path.name


def md_escape(text: str) -> str:
    """User text made inert in a Markdown table cell (no HTML, links, emphasis or cell breaks)."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|#!{}])", r"\\\1", text)


def _pm(mean: float, err: float | None, digits: int) -> str:
    return f"{mean:.{digits}f} ± {err:.{digits}f}" if err is not None else f"{mean:.{digits}f} ± —"
