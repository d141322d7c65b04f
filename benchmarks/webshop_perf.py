"""WebShop performance: first build, a second process's start, search and click latency, shared memory.

Usage:  python benchmarks/webshop_perf.py [--sizes 1k 100k full] [--queries 300] [--cache DIR]

For each generated catalog size (an int, or a name: 1k, 100k, full = upstream's 1.18M products) it prints:

* first build: generating the upstream-format files + building the on-disk store (records, goals, BM25
  index), in a fresh process with a cold cache; with ``--cache`` pointing at a cache that already holds
  the store, the times recorded in the store's ``meta.json`` when it was built are shown instead;
* second process: a fresh process opening the built catalog and its index (memory-mapped) and answering
  one search, after its imports (the imports are shown separately);
* search p50/p95 (top-50 BM25 for goal instructions, wall and CPU time) and click p50/p95 (env.step on
  item, option, sub-page and back clicks);
* memory: VmRSS and PSS (proportional set size: a page shared by k processes counts 1/k in each) of one
  process holding 1 and 16 envs, and of 4 worker processes holding 4 envs each, all alive at once.
  RSS counts the shared catalog pages in full in every process; the sum of PSS is the honest total.
  "Added" is what the envs add over each process's imports.

Each figure is printed with its ratio to its target (at 100k: click p50 < 1 ms, search p95 < 10 ms,
16 envs < 300 MB; at 1.18M: second process < 5 s, search p95 < 20 ms, 16 envs across 4 processes
< 2 GB); a ratio < 1 meets it. Wall-clock tails are sensitive to other load on a shared machine, so
search is also timed in CPU time. Uses its own cache folder (``--cache``, default a temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = {  # products -> {figure: target}
    100_000: {"click_p50_ms": 1.0, "search_p95_ms": 10.0, "rss_16_mb": 300.0},
    1_180_000: {"open_s": 5.0, "search_p95_ms": 20.0, "added_rss_4x4_mb": 2000.0},
}

_MEMORY = """
def memory():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            out["rss"] = int(line.split()[1]) / 1024
    for line in open("/proc/self/smaps_rollup"):
        key, _, rest = line.partition(":")
        if key in ("Pss", "Private_Clean", "Private_Dirty"):
            out[key.lower()] = int(rest.split()[0]) / 1024
    out["uss"] = out.pop("private_clean") + out.pop("private_dirty")
    return out
"""

_BUILD = """
import json, sys, time
t = time.perf_counter()
from spear_envs.webshop.catalog import Catalog, CatalogSource
c = Catalog(CatalogSource(None, int(sys.argv[1]), 0))
c.search.search("shoes")
print(json.dumps({"build_s": time.perf_counter() - t, "meta": c.store.meta}))
"""

_OPEN = """
import json, sys, time
t0 = time.perf_counter()
from spear_envs.webshop.catalog import Catalog, CatalogSource
from spear_envs.webshop.env import WebShopEnv
t1 = time.perf_counter()
c = Catalog(CatalogSource(None, int(sys.argv[1]), 0))
c.search.search(c.goals("synthetic", "train")[0].instruction_text)
print(json.dumps({"import_s": t1 - t0, "open_s": time.perf_counter() - t1}))
"""

_ENVS = _MEMORY + """
import json, sys
n, k, offset, wait = (int(a) for a in sys.argv[1:5])
from spear_envs.webshop.env import WebShopEnv
base = memory()
def play(env, seed):
    env.reset(seed=seed)
    env.step("search[" + env.goal.instruction_text + "]")
    first = [a for a in env.shop.admissible_actions() if a.startswith("click[") and a != "click[back to search]"]
    if first:
        env.step(first[0])
envs = [WebShopEnv(n_products=n)]
play(envs[0], offset)
one = memory()
envs += [WebShopEnv(n_products=n) for _ in range(k - 1)]
for i, env in enumerate(envs):
    play(env, offset + i)
if wait:  # hold the envs until every worker has built its own, so shared pages are shared when measured
    print("ready", flush=True)
    sys.stdin.readline()
print(json.dumps({"base": base, "one": one, "all": memory()}), flush=True)
"""


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def run_script(script: str, *args, env: dict) -> dict:
    """Run ``script`` in a fresh interpreter; its last stdout line (JSON), plus its CPU seconds (``cpu_s``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{out.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), cpu_s=cpu)


def first_build(n: int, env: dict) -> dict:
    """Build the catalog in a fresh process (or report the recorded build when the store exists)."""
    from spear_envs.webshop.catalog import CatalogSource
    from spear_envs.webshop.store import is_built

    path = CatalogSource(None, n, 0).store_path()
    if is_built(path):
        meta = json.loads((path / "meta.json").read_text())
        return {"build_s": meta.get("generate_s", 0.0) + meta["build_s"], "meta": meta, "recorded": True}
    return dict(run_script(_BUILD, n, env=env), recorded=False)


def workers_memory(n: int, n_workers: int, envs_each: int, env: dict) -> list[dict]:
    """Start ``n_workers`` processes holding ``envs_each`` envs each; measure them all while all are alive."""
    procs = [subprocess.Popen([sys.executable, "-c", _ENVS, str(n), str(envs_each), str(100 * w), "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for w in range(n_workers)]
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("a memory worker failed to start")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    out = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    return out


def latency(n: int, n_queries: int) -> dict:
    from spear_envs.webshop.catalog import CatalogSource, get_catalog
    from spear_envs.webshop.env import WebShopEnv

    catalog = get_catalog(CatalogSource(None, n, 0))
    index = catalog.search
    goals = catalog.goals("synthetic", "train")
    rng = np.random.default_rng(0)
    queries = [goals[int(i)].instruction_text for i in rng.integers(0, len(goals), n_queries)]
    index.search(queries[0])
    search_t, search_cpu = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        index.search(q)
        search_t.append(time.perf_counter() - t)
        search_cpu.append(time.process_time() - c)
    env = WebShopEnv(n_products=n)
    click_t = []
    for k in range(60):
        env.reset(seed=k)
        env.step(f"search[{env.goal.name}]")
        target = env.goal.asin.lower()
        actions = [a for a in env.shop.admissible_actions() if a == f"click[{target}]"][:1]
        actions += [f"click[{v}]" for v in env.goal.option_values()] + ["click[description]", "click[< prev]",
                                                                         "click[features]", "click[< prev]"]
        for a in actions:
            t = time.perf_counter()
            env.step(a)
            click_t.append(time.perf_counter() - t)
    return {
        "goals": len(goals), "search_p50_ms": pct(search_t, 50), "search_p95_ms": pct(search_t, 95),
        "search_cpu_p50_ms": pct(search_cpu, 50), "search_cpu_p95_ms": pct(search_cpu, 95),
        "click_p50_ms": pct(click_t, 50), "click_p95_ms": pct(click_t, 95), "clicks": len(click_t),
    }


def vs(value: float, n: int, key: str) -> str:
    target = TARGETS.get(n, {}).get(key)
    return f"   ({value / target:.2f} of the target {target:g})" if target else ""


def report(n: int, n_queries: int, env: dict) -> None:
    build = first_build(n, env)
    opened = run_script(_OPEN, n, env=env)
    lat = latency(n, n_queries)
    single = run_script(_ENVS, n, 16, 0, 0, env=env)
    workers = workers_memory(n, 4, 4, env)
    meta = build["meta"]
    print(f"\n== {n:,} products ({lat['goals']:,} train goals; load avg {os.getloadavg()[0]:.1f})")
    how = ("recorded in the store's meta.json when built" if build["recorded"]
           else f"fresh process, cold cache; {build['cpu_s']:.1f} s of CPU")
    print(f"first build            {build['build_s']:8.1f} s   (generate {meta.get('generate_s', 0):.1f} s + store "
          f"and index {meta['build_s']:.1f} s; {how})")
    print(f"second process: open   {opened['open_s']:8.2f} s{vs(opened['open_s'], n, 'open_s')}"
          f"   (catalog + index + one search, after {opened['import_s']:.2f} s of imports; "
          f"the whole process {opened['cpu_s']:.2f} s of CPU)")
    print(f"search p50 / p95       {lat['search_p50_ms']:8.3f} / {lat['search_p95_ms']:.3f} ms"
          f"{vs(lat['search_p95_ms'], n, 'search_p95_ms')}")
    print(f"search CPU p50 / p95   {lat['search_cpu_p50_ms']:8.3f} / {lat['search_cpu_p95_ms']:.3f} ms"
          "   (CPU time: robust to other load on the machine)")
    print(f"click  p50 / p95       {lat['click_p50_ms']:8.3f} / {lat['click_p95_ms']:.3f} ms"
          f"{vs(lat['click_p50_ms'], n, 'click_p50_ms')}   ({lat['clicks']} clicks)")
    b, one, all16 = single["base"], single["one"], single["all"]
    print(f"1 process: imports     {b['rss']:8.1f} MB RSS")
    print(f"1 process: 1 / 16 envs {one['rss']:8.1f} / {all16['rss']:.1f} MB RSS{vs(all16['rss'], n, 'rss_16_mb')}"
          f"   (PSS {one['pss']:.1f} / {all16['pss']:.1f} MB)")
    rss = sum(w["all"]["rss"] for w in workers)
    pss = sum(w["all"]["pss"] for w in workers)
    uss = sum(w["all"]["uss"] for w in workers)
    added = sum(w["all"]["rss"] - w["base"]["rss"] for w in workers)
    added_pss = sum(w["all"]["pss"] - w["base"]["pss"] for w in workers)
    each = ", ".join(f"{w['all']['rss']:.0f}" for w in workers)
    print(f"4 processes x 4 envs   {rss:8.1f} MB RSS in total; PSS {pss:.1f} MB; USS {uss:.1f} MB "
          f"(per process RSS {each} MB)")
    print(f"  added by the 16 envs {added:8.1f} MB RSS{vs(added, n, 'added_rss_4x4_mb')}   "
          f"(PSS {added_pss:.1f} MB; over each process's imports)")


def main() -> None:
    from spear_envs.webshop.catalog import catalog_size

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1k", "100k"],
                        help="catalog sizes: ints or names (1k, 100k, full = 1.18M; its first build takes minutes)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", default=None, help="cache folder (default: a fresh temp dir)")
    args = parser.parse_args()
    sizes = [catalog_size(int(s) if s.isdigit() else s) for s in args.sizes]
    cache = args.cache or tempfile.mkdtemp(prefix="spear-webshop-bench-")
    os.environ["SPEAR_BENCH_CACHE"] = cache
    print(f"cache: {cache}")
    for n in sizes:
        report(n, args.queries, dict(os.environ))


if __name__ == "__main__":
    main()
