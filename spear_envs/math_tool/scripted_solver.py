"""A scripted agent for generated problems: it writes code that solves the problem, runs it through the
env's tool, and boxes what the code printed. Used by tests (every eval problem must score +1) and as a
source of correct tool-using transcripts for SFT.

The code it writes reads the problem's numbers from the statement itself and computes the answer
independently of the generator where that stays short (brute force over the objects the problem talks
about, or sympy; counting formulas for lattice paths and Pick's theorem for lattice triangles), so
agreement is a real check of both.
"""

from __future__ import annotations

import json
from typing import Any

from spear_envs.math_tool.problem_generator import MathProblem

#: The format of the code the solver writes; "2": the statement copied verbatim, numbers read from it
#: (SFT caches expert episodes per version, ``spear_train.sft.experts.ExpertSource.version``).
SOLVER_VERSION = "2"


def solution_code(problem: MathProblem) -> str:
    """Python that prints the answer to a generated problem; ``ValueError`` for other problems.

    The program opens with the problem statement copied verbatim into a string and reads its numbers
    from there (:data:`READ_NUMBERS`), then computes with them::

        text = r'<the problem statement>'
        nums = [int(t) for t in re.findall(r'-?\\d+', text)]
        <the template's computation on nums>

    So what a policy imitating it must write is a verbatim copy of the problem (each number in the same
    context as in the problem) followed by a fixed program per template, never a number in another place
    or order than the problem's (docs/models.md, 'Data per environment')."""
    writer = _WRITERS.get(problem.template)
    if writer is None:
        raise ValueError(f"the scripted solver only handles generated problems, not {problem.problem_id!r}")
    text = problem.problem
    if "'" in text or "\n" in text or text.endswith("\\"):
        raise ValueError(f"problem {problem.problem_id!r} cannot be quoted verbatim in a raw string: {text!r}")
    return f"text = r'{text}'\n{READ_NUMBERS}\n{writer().strip()}\n"


#: The second line of every solution: the integers of the statement, in order (signs kept).
READ_NUMBERS = "nums = [int(t) for t in re.findall(r'-?\\d+', text)]"


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


# Each writer returns the template's computation on ``text`` (the statement) and ``nums`` (its integers in
# order); the comment above each names what ``nums`` holds for that template's statement.

def _power_mod() -> str:  # a^{b} divided by m
    return """
base, exp, m = nums
result = 1
while exp:
    if exp & 1:
        result = result * base % m
    base, exp = base * base % m, exp >> 1
print(result % m)"""


def _divisor_count() -> str:  # n
    return """
n = nums[0]
print(sympy.divisor_count(n))"""


def _chinese_remainder() -> str:  # (remainder, modulus) three times
    return """
r1, m1, r2, m2, r3, m3 = nums
n = 1
while not (n % m1 == r1 and n % m2 == r2 and n % m3 == r3):
    n += 1
print(n)"""


def _committee() -> str:  # members, committee size
    return """
n, k = nums
members = range(n)  # Alice is 0, Bob is 1
print(sum(1 for c in itertools.combinations(members, k) if not (0 in c and 1 in c)))"""


def _digit_sum_count() -> str:  # digits, digit sum
    return """
digits, total = nums
print(sum(1 for n in range(10 ** (digits - 1), 10 ** digits) if sum(map(int, str(n))) == total))"""


def _lattice_paths() -> str:  # start (0, 0), end (a, b), blocked point (c, e)
    return """
a, b, c, e = nums[2:]
ways = lambda dx, dy: math.comb(dx + dy, dx)
print(ways(a, b) - ways(c, e) * ways(a - c, b - e))"""


def _quadratic_power_sum() -> str:  # the polynomial's coefficients (some implicit), then n twice
    return """
x = sympy.symbols('x')
poly = sympy.parse_expr(re.search(r'of \\$(.*) = 0', text).group(1).replace('^', '**'), transformations='all')
r, s = sympy.roots(poly, x, multiple=True)
n = nums[-1]
print(sympy.simplify(sympy.expand(r**n + s**n)))"""


def _quadratic_values() -> str:  # 1, f(1), 2, f(2), 3, f(3), k
    return """
a, b, c, x = sympy.symbols('a b c x')
f = a*x**2 + b*x + c
sol = sympy.solve([f.subs(x, nums[0]) - nums[1], f.subs(x, nums[2]) - nums[3], f.subs(x, nums[4]) - nums[5]], [a, b, c])
print(f.subs(sol).subs(x, nums[6]))"""


def _dice_sum_event() -> str:  # faces, 1, faces, [modulus]
    return """
faces = range(1, nums[0] + 1)
if 'is prime' in text:
    event = sympy.isprime
elif 'square' in text:
    event = lambda t: math.isqrt(t) ** 2 == t
else:
    event = lambda t: t % nums[-1] == 0
hits = sum(1 for i in faces for j in faces if event(i + j))
prob = Fraction(hits, len(faces) ** 2)
print(prob.numerator + prob.denominator)"""


def _balls_drawn() -> str:  # red, blue, drawn, red drawn
    return """
red, blue, k, j = nums
balls = ['r'] * red + ['b'] * blue
draws = list(itertools.combinations(range(len(balls)), k))
good = sum(1 for d in draws if sum(balls[i] == 'r' for i in d) == j)
prob = Fraction(good, len(draws))
print(prob.numerator + prob.denominator)"""


def _lattice_triangle() -> str:  # x1, y1, x2, y2, x3, y3
    return """
x1, y1, x2, y2, x3, y3 = nums
twice_area = abs((x2 - x1) * (y3 - y1) - (x3 - x1) * (y2 - y1))
boundary = math.gcd(x2 - x1, y2 - y1) + math.gcd(x3 - x2, y3 - y2) + math.gcd(x1 - x3, y1 - y3)
print((twice_area - boundary + 2) // 2)  # Pick: area = inside + boundary / 2 - 1"""


def _right_triangle() -> str:  # legs a, b
    return """
a, b = nums
c = math.isqrt(a * a + b * b)
area, semi = Fraction(a * b, 2), Fraction(a + b + c, 2)
print(c + area / semi)"""


def _grid_squares() -> str:  # rows, columns
    return """
rows, cols = nums
print(sum(1 for size in range(1, min(rows, cols) + 1)
          for top in range(rows - size + 1) for left in range(cols - size + 1)))"""


_WRITERS = {
    "power_mod": _power_mod, "divisor_count": _divisor_count, "chinese_remainder": _chinese_remainder,
    "committee": _committee, "digit_sum_count": _digit_sum_count, "lattice_paths": _lattice_paths,
    "quadratic_power_sum": _quadratic_power_sum, "quadratic_values": _quadratic_values,
    "dice_sum_event": _dice_sum_event, "balls_drawn": _balls_drawn, "lattice_triangle": _lattice_triangle,
    "right_triangle": _right_triangle, "grid_squares": _grid_squares,
}
