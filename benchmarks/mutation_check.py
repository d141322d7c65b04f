"""Mutation check: do the trainer's tests catch a broken trainer, not only a trainer that runs?

Plants the bugs of ``benchmarks/mutants.py`` one at a time in a temporary COPY of the repository (the
working tree is never touched) and runs a fixed, fast subset of the tests against the copy
(``PYTHONPATH`` = the copy). A mutant is *caught* when that subset fails (or times out), *survived* when
it passes, and *stale* when its snippet no longer occurs exactly once in the source (the code moved:
update the snippet in benchmarks/mutants.py). Stale mutants count as not caught.

The unmutated copy runs the subset first; if it fails, the check stops (exit 2): a red baseline would
"catch" every mutant. Exit status 1 when fewer than ``--min-score`` (90%) of the mutants are caught, or
when one of the core kinds (marked [core]) is not caught; 0 otherwise.

Usage (from the repository root, in the project's environment)::

    python benchmarks/mutation_check.py [--only NAME ...] [--list] [--threads 1] [--timeout 300]
        [--min-score 0.9] [--keep-going]

About 20-45 s per mutant at 1 thread (most stop at their first failing test; see docs/training.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import MUTANTS, Mutant  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: what is copied: the packages, the tests and the pytest configuration
COPIED = ("spear_train", "spear_envs", "tests", "pyproject.toml")
#: the fixed test subset, fastest and most specific first (``-x`` stops at the first failure)
TESTS = (
    "tests/training/test_update.py",
    "tests/training/test_train_step.py",
    "tests/training/test_preset_settings.py",
    "tests/algorithms",
    "tests/training/test_loop.py::test_every_preset_runs_two_steps",
    "tests/training/test_loop.py::test_spear_replay_pass_runs_when_the_buffer_fills",
)


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # caught | survived | stale
    seconds: float = 0.0
    detail: str = ""


def apply(source: str, mutant: Mutant) -> str | None:
    """``source`` with the mutant's edits applied, or None when an ``old`` snippet does not occur
    exactly once (at the time its edit is applied)."""
    for old, new in mutant.edits:
        if not old or source.count(old) != 1:
            return None
        source = source.replace(old, new)
    return source


def make_copy(root: Path) -> Path:
    copy = root / "repo"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, copy / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, copy / name)
    return copy


def run_tests(copy: Path, threads: int, timeout: float, keep_going: bool) -> tuple[bool | None, str]:
    """(passed, first failure) of the test subset in ``copy``; passed is None on a timeout."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]  # addopts: -m "not slow"
    if not keep_going:
        cmd.insert(3, "-x")
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    out = proc.stdout + proc.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
    if proc.returncode == 0:
        return True, ""
    return False, failed[0] if failed else out.strip().splitlines()[-1] if out.strip() else f"rc {proc.returncode}"


def check_imports(copy: Path) -> None:
    """The copy, not the installed project, must be what the tests import."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    code = "import spear_train, spear_envs, tests; print(spear_train.__file__, spear_envs.__file__, tests.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    if not all(Path(p).resolve().is_relative_to(copy.resolve()) for p in out):
        sys.exit(f"mutation check: the tests would import {out}, not the copy in {copy}")


def run_mutant(copy: Path, mutant: Mutant, args) -> Outcome:
    path = copy / mutant.path
    original = path.read_text() if path.is_file() else None
    mutated = apply(original, mutant) if original is not None else None
    if mutated is None:
        return Outcome(mutant, "stale", detail=f"snippet not found exactly once in {mutant.path}")
    start = time.perf_counter()
    try:
        path.write_text(mutated)
        passed, detail = run_tests(copy, args.threads, args.timeout, args.keep_going)
    finally:
        path.write_text(original)
    status = "survived" if passed else "caught"
    return Outcome(mutant, status, time.perf_counter() - start, detail)


def report(outcomes: list[Outcome], min_score: float) -> int:
    caught = [o for o in outcomes if o.status == "caught"]
    survived = [o for o in outcomes if o.status == "survived"]
    stale = [o for o in outcomes if o.status == "stale"]
    score = len(caught) / len(outcomes) if outcomes else 0.0
    print(f"\ncaught {len(caught)} / {len(outcomes)} ({100 * score:.1f}%), survived {len(survived)}, "
          f"stale {len(stale)}; required {100 * min_score:.0f}%")
    for o in survived:
        print(f"  SURVIVED  {o.mutant.name}: {o.mutant.what}")
    if stale:
        print("!" * 78)
        for o in stale:
            print(f"  STALE     {o.mutant.name}: {o.detail} -- the code moved; update benchmarks/mutants.py")
        print("!" * 78)
    missed_issue = [o.mutant.name for o in outcomes if o.mutant.issue and o.status != "caught"]
    if missed_issue:
        print(f"  issue-26 kinds not caught: {', '.join(missed_issue)}")
    return 0 if score >= min_score and not missed_issue else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants (see --list)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the test runs (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds per mutant; a mutant that runs longer counts as caught (default 300)")
    parser.add_argument("--min-score", type=float, default=0.9, help="fraction that must be caught (default 0.9)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run the whole subset for each mutant instead of stopping at its first failure")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:34s} {m.path:40s} {'[core] ' if m.issue else ''}{m.what}")
        return 0
    mutants = list(MUTANTS)
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in MUTANTS})
        if unknown:
            parser.error(f"unknown mutant(s) {unknown}; see --list")
        mutants = [m for m in MUTANTS if m.name in args.only]
    with tempfile.TemporaryDirectory(prefix="spear-mutation-") as tmp:
        copy = make_copy(Path(tmp))
        check_imports(copy)
        print(f"tests: {' '.join(TESTS)}\ncopy: {copy}\nbaseline (no mutant) ...", flush=True)
        start = time.perf_counter()
        passed, detail = run_tests(copy, args.threads, args.timeout, args.keep_going)
        if not passed:
            print(f"the unmutated copy fails the subset ({detail}); fix that first")
            return 2
        print(f"baseline passes ({time.perf_counter() - start:.0f} s); {len(mutants)} mutants, one at a time",
              flush=True)
        outcomes = []
        for n, mutant in enumerate(mutants, 1):
            o = run_mutant(copy, mutant, args)
            outcomes.append(o)
            print(f"[{n:2d}/{len(mutants)}] {o.status.upper():8s} {mutant.name:34s} {o.seconds:5.0f} s  "
                  f"{o.detail}", flush=True)
    return report(outcomes, args.min_score)


if __name__ == "__main__":
    sys.exit(main())
