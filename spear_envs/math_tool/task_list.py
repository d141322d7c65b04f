"""The indexable task list of generated math problems: task ``i`` is the ``i``-th *distinct* problem.

The generator (:func:`~spear_envs.math_tool.problem_generator.generate_problem`) maps every index to a
problem, but small templates repeat: the difficulty-1 ``eval`` problems of indices 0-99 hold 83 distinct
statements (20,000 indices hold ~6,000), and the env's seeded draw (a random index per reset seed) gave
69 distinct problems for reset seeds 0-99. An evaluation that sweeps reset seeds ``0..N-1``
must play ``N`` different problems, so the env's task list (:meth:`MathToolEnv.task_options
<spear_envs.math_tool.env.MathToolEnv.task_options>`) skips repeats: task ``i`` is the generator index at
which the ``i``-th new statement first appears, scanning indices 0, 1, 2, ... A pure function of
(split, difficulty, families, generator version); the scan is cached per process and grows on demand
(the first 200 level-1 eval tasks: 301 indices, ~0.1 s).
"""

from __future__ import annotations

import threading

from spear_envs.math_tool.problem_generator import generate_problem

#: Tasks in a generated split's list (``task_count()``): far more than any evaluation plays.
GENERATED_TASKS = 2000
#: Give up when this many indices in a row bring no new statement (a split with fewer distinct problems).
MAX_REPEATS_IN_A_ROW = 20_000

_scans: dict[tuple, tuple[list[int], set[str], list[int]]] = {}
_lock = threading.Lock()


def distinct_problem_index(task: int, split: str, difficulty: int | None = None,
                           families: tuple[str, ...] | None = None) -> int:
    """The generator index of task ``task`` (0-based): where the ``task``-th distinct statement of the
    split first appears. ``ValueError`` for a negative ``task`` or a split with too few distinct problems."""
    if isinstance(task, bool) or not isinstance(task, int) or task < 0:
        raise ValueError(f"task must be a non-negative int, got {task!r}")
    key = (split, difficulty, tuple(families) if families else None)
    with _lock:
        indices, seen, cursor = _scans.setdefault(key, ([], set(), [0]))
        repeats = 0
        while len(indices) <= task:
            index = cursor[0]
            cursor[0] += 1
            statement = generate_problem(index, split, difficulty=difficulty, families=key[2]).problem
            if statement in seen:
                repeats += 1
                if repeats >= MAX_REPEATS_IN_A_ROW:
                    raise ValueError(f"split {split!r} (difficulty {difficulty}, families {key[2]}) has only "
                                     f"{len(indices)} distinct problems in the first {index + 1} indices; "
                                     f"task {task} does not exist")
                continue
            repeats = 0
            seen.add(statement)
            indices.append(index)
        return indices[task]
