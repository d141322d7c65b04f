"""Seeded generator of integer-answer competition problems (the env's offline default task source).

Five families, each with a few templates: ``number_theory``, ``combinatorics``, ``algebra``,
``probability`` (counting; answers asked as ``p+q`` of a reduced fraction) and ``geometry`` (with
numbers). ``difficulty`` 1-3 scales the numbers from "by hand" to "you want code". Every answer is
computed exactly here (integers and fractions, no floats).

Splits are disjoint by construction: a statement belongs to ``eval`` when the SHA-256 of its text
starts with a byte divisible by :data:`EVAL_EVERY`, else to ``train``; the generator redraws until the
statement falls in the requested split. ``generate_problem(seed, split)`` is a pure function of its
arguments, and the same text can never appear in both splits.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from fractions import Fraction
from math import comb, gcd, isqrt
from typing import Any, Callable

GENERATOR_VERSION = "1"
SPLITS = ("train", "eval")
EVAL_EVERY = 5  # about one statement in five is an eval problem
DIFFICULTIES = (1, 2, 3)


@dataclass(frozen=True)
class MathProblem:
    """One problem. ``answer`` is the ground-truth string; generated problems also carry the template
    name and its parameters (what :mod:`~spear_envs.math_tool.scripted_solver` needs)."""

    problem: str
    answer: str
    problem_id: str
    source: str
    family: str = ""
    template: str = ""
    difficulty: int = 0
    params: dict[str, Any] = field(default_factory=dict)


def split_of(statement: str) -> str:
    """``"eval"`` or ``"train"``, fixed by the statement's text."""
    return "eval" if hashlib.sha256(statement.encode()).digest()[0] % EVAL_EVERY == 0 else "train"


# ------------------------------------------------------------------------------------- number theory
def power_mod(rng: random.Random, d: int) -> tuple[str, int, dict]:
    a, b, m = rng.randint(2, 10 ** d * 3), rng.randint(10 ** d, 10 ** (d + 2)), rng.randint(7, 10 ** (d + 1))
    return f"Find the remainder when ${a}^{{{b}}}$ is divided by ${m}$.", pow(a, b, m), dict(a=a, b=b, m=m)


def divisor_count(rng: random.Random, d: int) -> tuple[str, int, dict]:
    primes = rng.sample([2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37][: 4 + 2 * d], 1 + d)
    exponents = [rng.randint(1, 2 + d) for _ in primes]
    n, count = 1, 1
    for p, e in zip(primes, exponents):
        n, count = n * p ** e, count * (e + 1)
    return f"How many positive integer divisors does ${n}$ have?", count, dict(n=n)


def chinese_remainder(rng: random.Random, d: int) -> tuple[str, int, dict]:
    moduli: list[int] = []
    while len(moduli) < 3:
        m = rng.randint(3, 6 + 8 * d)
        if all(gcd(m, other) == 1 for other in moduli):
            moduli.append(m)
    n = rng.randint(1, moduli[0] * moduli[1] * moduli[2])
    rems = [n % m for m in moduli]
    text = (
        f"Find the smallest positive integer $n$ that leaves a remainder of ${rems[0]}$ when divided by "
        f"${moduli[0]}$, a remainder of ${rems[1]}$ when divided by ${moduli[1]}$, and a remainder of "
        f"${rems[2]}$ when divided by ${moduli[2]}$."
    )
    return text, n, dict(moduli=moduli, remainders=rems)


# ------------------------------------------------------------------------------------- combinatorics
def committee(rng: random.Random, d: int) -> tuple[str, int, dict]:
    n = rng.randint(6 + 3 * d, 8 + 4 * d)
    k = rng.randint(3, 3 + 2 * d)
    text = (
        f"A club has ${n}$ members. In how many ways can a committee of ${k}$ members be chosen if two "
        f"particular members, Alice and Bob, refuse to serve on the committee together?"
    )
    return text, comb(n, k) - comb(n - 2, k - 2), dict(n=n, k=k)


def digit_sum_count(rng: random.Random, d: int) -> tuple[str, int, dict]:
    digits = 2 + d
    total = rng.randint(5, 9 * digits - 5)
    ways = [1] + [0] * total  # ways[s]: digit strings so far with sum s
    for position in range(digits):
        lowest = 1 if position == 0 else 0
        ways = [sum(ways[s - x] for x in range(lowest, 10) if s - x >= 0) for s in range(total + 1)]
    text = f"How many ${digits}$-digit positive integers have digits whose sum is ${total}$?"
    return text, ways[total], dict(digits=digits, total=total)


def lattice_paths(rng: random.Random, d: int) -> tuple[str, int, dict]:
    a, b = rng.randint(3, 4 + 3 * d), rng.randint(3, 4 + 3 * d)
    c, e = rng.randint(1, a - 1), rng.randint(1, b - 1)
    count = comb(a + b, a) - comb(c + e, c) * comb(a - c + b - e, a - c)
    text = (
        f"A path from $(0,0)$ to $({a},{b})$ consists of unit steps, each going one unit right or one unit "
        f"up. How many such paths do not pass through the point $({c},{e})$?"
    )
    return text, count, dict(a=a, b=b, c=c, e=e)


# ------------------------------------------------------------------------------------------ algebra
def quadratic_power_sum(rng: random.Random, d: int) -> tuple[str, int, dict]:
    p, q = rng.randint(1, 4 + 2 * d), rng.choice([x for x in range(-5, 10) if x != 0])
    n = rng.randint(4 + d, 4 + 3 * d)
    s_prev, s = 2, p  # power sums s_0, s_1 of the roots; s_k = p s_{k-1} - q s_{k-2}
    for _ in range(n - 1):
        s_prev, s = s, p * s - q * s_prev
    sign = "-" if q < 0 else "+"
    linear = "x" if p == 1 else f"{p}x"
    text = f"Let $r$ and $s$ be the roots of $x^2 - {linear} {sign} {abs(q)} = 0$. Find $r^{{{n}}} + s^{{{n}}}$."
    return text, s, dict(p=p, q=q, n=n)


def quadratic_values(rng: random.Random, d: int) -> tuple[str, int, dict]:
    a = rng.choice([x for x in range(-3 * d, 3 * d + 1) if x != 0])
    b, c = rng.randint(-10 * d, 10 * d), rng.randint(-20 * d, 20 * d)
    k = rng.randint(5, 10 + 10 * d)
    f = [a * x * x + b * x + c for x in (1, 2, 3, k)]
    text = (
        f"A quadratic polynomial $f(x)$ satisfies $f(1) = {f[0]}$, $f(2) = {f[1]}$ and $f(3) = {f[2]}$. "
        f"Find $f({k})$."
    )
    return text, f[3], dict(values=f[:3], k=k)


# -------------------------------------------------------------------------------------- probability
def dice_sum_event(rng: random.Random, d: int) -> tuple[str, int, dict]:
    faces = rng.randint(4 + 2 * d, 6 + 6 * d)
    modulus = rng.randint(3, 9)
    events: dict[str, Callable[[int], bool]] = {
        "prime": _is_prime,
        "a perfect square": lambda n: isqrt(n) ** 2 == n,
        f"a multiple of ${modulus}$": lambda n: n % modulus == 0,
    }
    event = rng.choice(sorted(events))
    hits = sum(events[event](i + j) for i in range(1, faces + 1) for j in range(1, faces + 1))
    prob = Fraction(hits, faces * faces)
    text = (
        f"Two fair ${faces}$-sided dice, each with faces numbered $1$ through ${faces}$, are rolled. The "
        f"probability that the sum of the two numbers rolled is {event} is $\\frac{{p}}{{q}}$, where $p$ "
        f"and $q$ are relatively prime positive integers. Find $p+q$."
    )
    event_kind = event if event in ("prime", "a perfect square") else "multiple"
    return text, prob.numerator + prob.denominator, dict(faces=faces, event=event_kind, modulus=modulus)


def balls_drawn(rng: random.Random, d: int) -> tuple[str, int, dict]:
    red, blue = rng.randint(3, 3 + 3 * d), rng.randint(3, 3 + 3 * d)
    k = rng.randint(2, min(2 + d, red + blue - 1))
    j = rng.randint(max(1, k - blue), min(k, red))
    prob = Fraction(comb(red, j) * comb(blue, k - j), comb(red + blue, k))
    text = (
        f"A bag contains ${red}$ red balls and ${blue}$ blue balls. ${k}$ balls are drawn at random without "
        f"replacement. The probability that exactly ${j}$ of the drawn balls are red is $\\frac{{p}}{{q}}$, "
        f"where $p$ and $q$ are relatively prime positive integers. Find $p+q$."
    )
    return text, prob.numerator + prob.denominator, dict(red=red, blue=blue, k=k, j=j)


# ----------------------------------------------------------------------------------------- geometry
def lattice_triangle(rng: random.Random, d: int) -> tuple[str, int, dict]:
    size = 6 + 12 * d
    while True:
        pts = [(rng.randint(0, size), rng.randint(0, size)) for _ in range(3)]
        (x1, y1), (x2, y2), (x3, y3) = pts
        twice_area = abs((x2 - x1) * (y3 - y1) - (x3 - x1) * (y2 - y1))
        if twice_area:
            break
    boundary = sum(gcd(abs(p[0] - q[0]), abs(p[1] - q[1])) for p, q in zip(pts, pts[1:] + pts[:1]))
    interior = (twice_area - boundary + 2) // 2  # Pick: A = I + B/2 - 1
    text = (
        f"A triangle has vertices $({x1},{y1})$, $({x2},{y2})$ and $({x3},{y3})$. How many points with "
        f"integer coordinates lie strictly inside the triangle?"
    )
    return text, interior, dict(points=pts)


def right_triangle(rng: random.Random, d: int) -> tuple[str, int, dict]:
    m = rng.randint(2, 3 + 2 * d)
    n = rng.randint(1, m - 1)
    k = rng.randint(1, 2 * d)
    a, b, c = k * (m * m - n * n), k * 2 * m * n, k * (m * m + n * n)
    inradius = (a + b - c) // 2
    text = (
        f"A right triangle has legs of lengths ${a}$ and ${b}$. Find the sum of the length of its hypotenuse "
        f"and the radius of its inscribed circle."
    )
    return text, c + inradius, dict(a=a, b=b)


def grid_squares(rng: random.Random, d: int) -> tuple[str, int, dict]:
    rows, cols = rng.randint(3, 5 + 8 * d), rng.randint(3, 5 + 8 * d)
    count = sum((rows - s + 1) * (cols - s + 1) for s in range(1, min(rows, cols) + 1))
    text = (
        f"A rectangle is divided into a grid of unit squares with ${rows}$ rows and ${cols}$ columns. How "
        f"many squares of any size, with sides along the grid lines, does the grid contain?"
    )
    return text, count, dict(rows=rows, cols=cols)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, isqrt(n) + 1))


Template = Callable[[random.Random, int], tuple[str, int, dict]]
FAMILIES: dict[str, tuple[Template, ...]] = {
    "number_theory": (power_mod, divisor_count, chinese_remainder),
    "combinatorics": (committee, digit_sum_count, lattice_paths),
    "algebra": (quadratic_power_sum, quadratic_values),
    "probability": (dice_sum_event, balls_drawn),
    "geometry": (lattice_triangle, right_triangle, grid_squares),
}


def generate_problem(
    seed: int, split: str = "train", *, difficulty: int | None = None, families: tuple[str, ...] | None = None
) -> MathProblem:
    """The problem for ``seed`` in ``split`` (deterministic). ``difficulty`` None draws 1-3; ``families``
    None draws from all five."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES} or None, got {difficulty!r}")
    names = tuple(families) if families else tuple(FAMILIES)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown problem families {unknown}; known: {list(FAMILIES)}")
    rng = random.Random(f"spear-math-{GENERATOR_VERSION}-{seed}")
    while True:  # draw a template, then its numbers until the statement falls in the split
        family = rng.choice(names)
        template = rng.choice(FAMILIES[family])
        level = difficulty if difficulty is not None else rng.choice(DIFFICULTIES)
        for _ in range(100):
            text, answer, params = template(rng, level)
            if split_of(text) == split:
                digest = hashlib.sha256(text.encode()).hexdigest()[:12]
                return MathProblem(text, str(answer), f"gen-{split}-{family}-{digest}", "generated",
                                   family, template.__name__, level, params)
