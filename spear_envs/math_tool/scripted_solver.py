"""A scripted agent for generated problems: it writes code that solves the problem, runs it through the
env's tool, and boxes what the code printed. Used by tests (every eval problem must score +1) and as a
source of correct tool-using transcripts for SFT.

The code it writes computes the answer independently of the generator where it can (brute force over
the objects the problem talks about, or sympy), so agreement is a real check of both.
"""

from __future__ import annotations

import json
from typing import Any

from spear_envs.math_tool.problem_generator import MathProblem


def solution_code(problem: MathProblem) -> str:
    """Python that prints the answer to a generated problem; ``ValueError`` for other problems."""
    writer = _WRITERS.get(problem.template)
    if writer is None:
        raise ValueError(f"the scripted solver only handles generated problems, not {problem.problem_id!r}")
    return writer(problem.params).strip() + "\n"


def tool_call_turn(problem: MathProblem) -> str:
    """The assistant turn that calls the code tool with :func:`solution_code`."""
    call = {"name": "code_interpreter", "arguments": {"code": solution_code(problem)}}
    return f"Let me compute this with Python.\n<tool_call>{json.dumps(call)}</tool_call>"


def final_turn(tool_output: str) -> str:
    """The final assistant turn: the last line the code printed, boxed."""
    value = tool_output.strip().splitlines()[-1].strip() if tool_output.strip() else ""
    return f"The code printed {value}, so the answer is $\\boxed{{{value}}}$."


def solve_episode(env: Any, seed: int | None = None, options: dict | None = None) -> tuple[list[str], float, dict]:
    """Play one episode of ``MathToolEnv`` (or a wrapper): returns (turns sent, total reward, last info)."""
    env.reset(seed=seed, options=options)
    problem = env.unwrapped.problem
    turns = [tool_call_turn(problem)]
    observation, reward, terminated, truncated, info = env.step(turns[0])
    total = reward
    if not (terminated or truncated):
        turns.append(final_turn(observation))
        _, reward, terminated, truncated, info = env.step(turns[1])
        total += reward
    return turns, float(total), info


def _power_mod(p: dict) -> str:
    return f"""
result, base, exp, m = 1, {p['a']} % {p['m']}, {p['b']}, {p['m']}
while exp:
    if exp & 1:
        result = result * base % m
    base, exp = base * base % m, exp >> 1
print(result)"""


def _divisor_count(p: dict) -> str:
    return f"print(sympy.divisor_count({p['n']}))"


def _chinese_remainder(p: dict) -> str:
    return f"""
moduli, remainders = {p['moduli']}, {p['remainders']}
n = 1
while any(n % m != r for m, r in zip(moduli, remainders)):
    n += 1
print(n)"""


def _committee(p: dict) -> str:
    return f"""
members = range({p['n']})  # Alice is 0, Bob is 1
print(sum(1 for c in itertools.combinations(members, {p['k']}) if not (0 in c and 1 in c)))"""


def _digit_sum_count(p: dict) -> str:
    lo, hi = 10 ** (p["digits"] - 1), 10 ** p["digits"]
    return f"print(sum(1 for n in range({lo}, {hi}) if sum(map(int, str(n))) == {p['total']}))"


def _lattice_paths(p: dict) -> str:
    return f"""
a, b, blocked = {p['a']}, {p['b']}, ({p['c']}, {p['e']})
ways = [[0] * (b + 1) for _ in range(a + 1)]
for x in range(a + 1):
    for y in range(b + 1):
        if (x, y) == (0, 0):
            ways[x][y] = 1
        elif (x, y) != blocked:
            ways[x][y] = (ways[x - 1][y] if x else 0) + (ways[x][y - 1] if y else 0)
print(ways[a][b])"""


def _quadratic_power_sum(p: dict) -> str:
    return f"""
x = sympy.symbols('x')
r, s = sympy.solve(x**2 - {p['p']}*x + ({p['q']}), x)
print(sympy.simplify(sympy.expand(r**{p['n']} + s**{p['n']})))"""


def _quadratic_values(p: dict) -> str:
    v = p["values"]
    return f"""
a, b, c, x = sympy.symbols('a b c x')
f = a*x**2 + b*x + c
sol = sympy.solve([f.subs(x, 1) - ({v[0]}), f.subs(x, 2) - ({v[1]}), f.subs(x, 3) - ({v[2]})], [a, b, c])
print(f.subs(sol).subs(x, {p['k']}))"""


def _dice_sum_event(p: dict) -> str:
    test = {"prime": "sympy.isprime(t)", "a perfect square": "math.isqrt(t) ** 2 == t",
            "multiple": f"t % {p['modulus']} == 0"}[p["event"]]
    return f"""
faces = range(1, {p['faces']} + 1)
hits = sum(1 for i in faces for j in faces if (lambda t: {test})(i + j))
prob = Fraction(hits, len(faces) ** 2)
print(prob.numerator + prob.denominator)"""


def _balls_drawn(p: dict) -> str:
    return f"""
balls = ['r'] * {p['red']} + ['b'] * {p['blue']}
draws = list(itertools.combinations(range(len(balls)), {p['k']}))
good = sum(1 for d in draws if sum(balls[i] == 'r' for i in d) == {p['j']})
prob = Fraction(good, len(draws))
print(prob.numerator + prob.denominator)"""


def _lattice_triangle(p: dict) -> str:
    return f"""
pts = {[tuple(q) for q in p['points']]}
def cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
xs, ys = [q[0] for q in pts], [q[1] for q in pts]
inside = 0
for x in range(min(xs), max(xs) + 1):
    for y in range(min(ys), max(ys) + 1):
        s = [cross(pts[i], pts[(i + 1) % 3], (x, y)) for i in range(3)]
        inside += all(v > 0 for v in s) or all(v < 0 for v in s)
print(inside)"""


def _right_triangle(p: dict) -> str:
    return f"""
a, b = {p['a']}, {p['b']}
c = math.isqrt(a * a + b * b)
area, semi = Fraction(a * b, 2), Fraction(a + b + c, 2)
print(c + area / semi)"""


def _grid_squares(p: dict) -> str:
    return f"""
rows, cols = {p['rows']}, {p['cols']}
print(sum(1 for size in range(1, min(rows, cols) + 1)
          for top in range(rows - size + 1) for left in range(cols - size + 1)))"""


_WRITERS = {
    "power_mod": _power_mod, "divisor_count": _divisor_count, "chinese_remainder": _chinese_remainder,
    "committee": _committee, "digit_sum_count": _digit_sum_count, "lattice_paths": _lattice_paths,
    "quadratic_power_sum": _quadratic_power_sum, "quadratic_values": _quadratic_values,
    "dice_sum_event": _dice_sum_event, "balls_drawn": _balls_drawn, "lattice_triangle": _lattice_triangle,
    "right_triangle": _right_triangle, "grid_squares": _grid_squares,
}
