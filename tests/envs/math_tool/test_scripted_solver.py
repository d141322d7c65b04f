"""The scripted solver's programs: the statement copied verbatim, numbers read from it, the answer printed.

Runs each program in-process under the sandbox's preamble (the sandbox itself is exercised end to end in
``test_env.py``); here every template at every difficulty is checked, cheaply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from math import comb

import pytest

from spear_envs.math_tool.problem_generator import FAMILIES, generate_problem
from spear_envs.math_tool.sandbox.executor import PREAMBLE
from spear_envs.math_tool.scripted_solver import READ_NUMBERS, solution_code, tool_call_turn

TEMPLATES = {t.__name__ for templates in FAMILIES.values() for t in templates}


def run_program(code: str) -> str:
    scope: dict = {}
    exec(PREAMBLE, scope)  # the names the sandbox gives every snippet (re, math, sympy, Fraction, ...)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, scope)
    return out.getvalue().strip().splitlines()[-1]


def problems_of_every_template(split: str, difficulty: int, per_template: int = 2):
    seen: dict[str, int] = {}
    seed = 0
    while len(seen) < len(TEMPLATES) or min(seen.values()) < per_template:
        problem = generate_problem(seed, split, difficulty=difficulty)
        seed += 1
        if seen.get(problem.template, 0) < per_template:
            seen[problem.template] = seen.get(problem.template, 0) + 1
            yield problem


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_every_template_copies_the_statement_and_prints_the_answer(difficulty):
    templates = set()
    for problem in problems_of_every_template("eval", difficulty):
        code = solution_code(problem)
        lines = code.splitlines()
        assert lines[0] == f"text = r'{problem.problem}'" and lines[1] == READ_NUMBERS
        assert run_program(code) == problem.answer, (problem.problem, code)
        templates.add(problem.template)
    assert templates == TEMPLATES


def test_the_tool_call_carries_the_program_as_json():
    problem = generate_problem(3, "train", difficulty=1)
    turn = tool_call_turn(problem)
    call = json.loads(turn.split("<tool_call>", 1)[1].removesuffix("</tool_call>"))
    assert call == {"name": "code_interpreter", "arguments": {"code": solution_code(problem)}}


def test_numbers_come_from_the_statement_not_the_generator_params():
    problem = next(p for p in problems_of_every_template("train", 1, 1) if p.template == "committee")
    n, k = problem.params["n"], problem.params["k"]
    edited = dataclasses.replace(problem, problem=problem.problem.replace(f"${k}$ members", f"${k + 1}$ members"),
                                 params={"n": 0, "k": 0})
    assert run_program(solution_code(edited)) == str(comb(n, k + 1) - comb(n - 2, k - 1))


def test_statements_that_cannot_be_quoted_and_other_problems_are_refused():
    problem = generate_problem(0, "train", difficulty=1)
    with pytest.raises(ValueError, match="raw string"):
        solution_code(dataclasses.replace(problem, problem="It's $3$."))
    with pytest.raises(ValueError, match="only handles generated problems"):
        solution_code(dataclasses.replace(problem, template="", problem_id="aime-1"))
