"""What the per-call memory cap costs: pooled tool calls with a cgroup per call vs per-process rlimits.

Two pools with the same limits run side by side, their calls interleaved (so machine load hits both
alike, in alternating order; medians): one in the machine's cgroup mode (``"cgroup2"`` or ``"cgroup1"``: a cgroup is created, joined
and removed for every call), one forced to ``"rlimit"`` (``SPEAR_SANDBOX_CGROUPS=0``). Prints calls
per second for each and their ratio. The cgroup mode also kills a call's leftovers through its cgroup,
where the per-process mode forks helpers to kill the sandbox user's processes, so the ratio can exceed
1. Where the machine offers no cgroup both pools are ``"rlimit"`` and the script says so.

    python benchmarks/sandbox_cap_overhead.py [--calls 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from spear_envs.math_tool.sandbox import SandboxLimits, SandboxPool, cgroups

SNIPPET = "print(sum(i * i for i in range(1000)) % 97)"


def rlimit_pool(limits: SandboxLimits) -> SandboxPool:
    """A pool whose workers were told there is no cgroup (the probe is redone with the switch set)."""
    os.environ["SPEAR_SANDBOX_CGROUPS"] = "0"
    cgroups.probe_cap.cache_clear()
    try:
        return SandboxPool(1, limits)
    finally:
        del os.environ["SPEAR_SANDBOX_CGROUPS"]
        cgroups.probe_cap.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=40, help="timed calls per pool")
    args = parser.parse_args()
    limits = SandboxLimits(timeout_s=30, memory_mb=1024, max_processes=2)  # valid in both modes
    with SandboxPool(1, limits) as capped, rlimit_pool(limits) as plain:
        pools = {capped.isolation.memory_cap: capped, f"{plain.isolation.memory_cap} (baseline)": plain}
        if len(pools) == 1 or capped.isolation.memory_cap == "rlimit":
            print("this machine offers no cgroup to the sandbox: both pools run in 'rlimit' mode")
        for pool in (capped, plain):  # warm-up
            assert pool.run(SNIPPET).stdout == "19\n"
        times: dict[str, list[float]] = {name: [] for name in pools}
        for i in range(args.calls):
            order = list(pools.items()) if i % 2 == 0 else list(pools.items())[::-1]  # ABBA: no order bias
            for name, pool in order:
                start = time.perf_counter()
                assert pool.run(SNIPPET).stdout == "19\n"
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        print(f"{name:>20}: median {1000 * median:6.1f} ms per call ({1 / median:6.1f} calls/s)")
    capped, plain = medians.values()
    print(f"per-call cap / baseline: {plain / capped:.2f}x calls per second "
          f"(medians of {args.calls} interleaved calls each)")


if __name__ == "__main__":
    main()
