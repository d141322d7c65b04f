"""Tool calls per second: the plain one-interpreter-per-call executor vs the pre-started pool.

Both run the same snippets through the same isolation (namespaces, sandbox uid, rlimits, preamble);
the difference is only that the pool's workers imported numpy and sympy, ran the preamble and a
warm-up of common sympy calls, and froze their heap before forking a child per call. Target:
the pool at least 10x the plain executor on the sympy snippet.

    python benchmarks/math_sandbox_perf.py [--calls 10] [--pool-size 1]
"""

from __future__ import annotations

import argparse
import time

from spear_envs.math_tool.sandbox import SandboxLimits, SandboxPool, SubprocessExecutor

TARGET_X = 10.0
SNIPPETS = {
    "numeric": "print(sum(i * i for i in range(1000)) % 97)",
    "sympy": "x = sympy.symbols('x')\nprint(sympy.factor(x**4 - 1), sympy.isprime(2**61 - 1))",
}


def calls_per_second(executor, code: str, calls: int) -> float:
    expected = executor.run(code)  # warm-up, and the answer every call must reproduce
    assert expected.status == "finished" and not expected.stderr, expected
    start = time.perf_counter()
    for _ in range(calls):
        assert executor.run(code).stdout == expected.stdout
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10, help="timed calls per executor and snippet")
    parser.add_argument("--pool-size", type=int, default=1, help="pool workers (calls run one at a time)")
    args = parser.parse_args()
    limits = SandboxLimits(timeout_s=30)
    plain = SubprocessExecutor(limits)
    with SandboxPool(args.pool_size, limits) as pool:
        print(f"isolation: {pool.isolation}")
        print(f"{'snippet':<8} {'plain calls/s':>14} {'pool calls/s':>13} {'pool/plain':>11}")
        for name, code in SNIPPETS.items():
            slow = calls_per_second(plain, code, args.calls)
            fast = calls_per_second(pool, code, args.calls * 10)
            verdict = "met" if fast / slow >= TARGET_X else "NOT met"
            note = f"   (target >= {TARGET_X:g}x: {verdict})" if name == "sympy" else ""
            print(f"{name:<8} {slow:>14.2f} {fast:>13.1f} {fast / slow:>10.1f}x{note}")


if __name__ == "__main__":
    main()
