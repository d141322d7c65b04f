"""The pool's warm workers: heavy modules are ready before a call, and no call sees another's state."""

from __future__ import annotations

import pytest

from spear_envs.math_tool.sandbox import SandboxLimits, SandboxPool

TAMPER = """
import builtins, decimal
from sympy.core.parameters import global_parameters
sympy.factor = lambda *a, **k: "tampered"          # monkeypatch a sympy function
sympy.Symbol.__str__ = lambda self: "tampered"      # and a method of a sympy class
global_parameters.evaluate = False                  # a sympy global option
sympy.core.cache.clear_cache()
math.pi = 3.0
fractions.Fraction.__repr__ = lambda self: "tampered"
np.set_printoptions(precision=1)
np.random.seed(0)
decimal.getcontext().prec = 3
builtins.LEAKED = True
sys.setrecursionlimit(60)
sys.modules["json"] = None
open("left_behind.txt", "w").write("x")
print("tampered")
"""

CHECK = """
import builtins, decimal, os
x = sympy.symbols("x")
print(sympy.factor(x**2 - 1), x + x, math.pi, repr(fractions.Fraction(1, 3)), np.array([0.123456]))
print(decimal.getcontext().prec, hasattr(builtins, "LEAKED"), sys.getrecursionlimit(), json.dumps([1]))
print(os.path.exists("left_behind.txt"), "sympy" in sys.modules, "numpy" in sys.modules)
"""
CLEAN = (
    "(x - 1)*(x + 1) 2*x 3.141592653589793 Fraction(1, 3) [0.123456]\n"
    "28 False 1000 [1]\n"
    "False True True\n"
)


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(1, SandboxLimits(timeout_s=20)) as p:
        yield p


def test_a_call_that_changes_global_state_does_not_affect_the_next(pool):
    assert pool.run(CHECK).stdout == CLEAN  # what a fresh worker gives
    tampered = pool.run(TAMPER)
    assert tampered.stdout == "tampered\n" and not tampered.stderr
    for _ in range(2):  # the same worker, after the tampering call
        assert pool.run(CHECK).stdout == CLEAN


def test_random_streams_differ_between_calls_as_in_fresh_interpreters(pool):
    code = "print(random.random(), np.random.rand(), sympy.randprime(10**8, 10**9))"
    outputs = [pool.run(code).stdout for _ in range(3)]
    columns = list(zip(*(o.split() for o in outputs)))
    assert len(columns) == 3 and all(len(set(column)) == 3 for column in columns), outputs


def test_heavy_modules_are_imported_and_warmed_before_a_call(pool):
    # sympy's solver and polys machinery are already in the worker: a call imports nothing new for them
    code = ("before = set(sys.modules)\nx = sympy.symbols('x')\nsympy.solve(x**2 - 2, x); sympy.factor(x**4 - 1)\n"
            "print(sorted(m for m in set(sys.modules) - before if m.startswith(('sympy', 'numpy'))))")
    assert pool.run(code).stdout == "[]\n"


def test_a_worker_that_does_not_start_in_time_is_a_sandbox_error_with_its_log():
    """The start-up failure path reports the worker's output: it once closed the log before reading it and
    raised ``ValueError: seek of closed file`` instead (seen as a failed env step under a loaded CI run)."""
    from spear_envs.math_tool.sandbox import SandboxError
    from spear_envs.math_tool.sandbox.executor import WorkerProcess

    worker = WorkerProcess(preload=False, startup_timeout_s=0.0)
    with pytest.raises(SandboxError, match="did not start"):
        worker.wait_ready()
    assert not worker.alive


def test_a_worker_that_started_long_before_its_first_call_is_ready():
    """A pre-started worker whose first call comes after its start-up deadline has its ready line waiting in
    the pipe: it is read, not declared dead (a pool's idle workers met this in a long test session)."""
    import select
    import time

    from spear_envs.math_tool.sandbox.executor import WorkerProcess

    worker = WorkerProcess(preload=False, startup_timeout_s=3.0)
    try:
        select.select([worker._proc.stdout.fileno()], [], [], 30)  # the ready line is in the pipe (or 30 s)
        time.sleep(3.5)  # now past the start-up deadline
        assert worker.wait_ready().network in ("namespace", "audit-hook")
    finally:
        worker.close()
