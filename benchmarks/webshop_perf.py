"""WebShop performance: catalog/index build, search and click latency, resident memory of shared envs.

Usage:  python benchmarks/webshop_perf.py [--sizes 1000 100000] [--queries 300]

For each generated catalog size it prints: catalog generation+load time, search-index build time,
search latency p50/p95 (top-50 BM25 for goal instructions), click latency p50/p95 (env.step on item,
option, sub-page and back clicks; no search), and resident memory (VmRSS) of a fresh process holding 1
and 16 envs that share the catalog. Each figure is also printed as a ratio to its target (issue #4:
click p50 < 1 ms, search p95 < 10 ms at 100k, < 300 MB for 16 envs at 100k); ratio < 1 meets it.
Wall-clock tails are sensitive to other load on a shared machine, so search is also timed in CPU time.
Uses its own cache folder (``--cache``, default a temp dir) so builds are measured cold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = {"click_p50_ms": 1.0, "search_p95_ms": 10.0, "rss_16_mb": 300.0}

_RSS_SCRIPT = """
import json, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from spear_envs.webshop.env import WebShopEnv
base = rss()
envs = [WebShopEnv(n_products=int(sys.argv[1]))]
for e in envs: e.reset(seed=0); e.step("search[shoes]")
one = rss()
envs += [WebShopEnv(n_products=int(sys.argv[1])) for _ in range(15)]
for i, e in enumerate(envs): e.reset(seed=i); e.step("search[" + e.goal.query + "]")
print(json.dumps({"import_mb": base, "rss_1_mb": one, "rss_16_mb": rss()}))
"""


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def bench(n: int, n_queries: int) -> dict:
    from spear_envs.webshop.catalog import Catalog, CatalogSource
    from spear_envs.webshop.env import WebShopEnv
    from spear_envs.webshop.search import SearchIndex

    t = time.perf_counter()
    catalog = Catalog(CatalogSource(None, n, 0))  # generates the files (cold cache) and loads them
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    index = SearchIndex.for_catalog(catalog, rebuild=True)
    index_s = time.perf_counter() - t
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

    from spear_envs.webshop import catalog as catalog_module

    catalog_module._CATALOGS[CatalogSource(None, n, 0)] = catalog
    catalog._search = index
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
        "products": n, "goals": len(goals), "catalog_load_s": load_s, "index_build_s": index_s,
        "search_p50_ms": pct(search_t, 50), "search_p95_ms": pct(search_t, 95),
        "search_cpu_p50_ms": pct(search_cpu, 50), "search_cpu_p95_ms": pct(search_cpu, 95),
        "click_p50_ms": pct(click_t, 50), "click_p95_ms": pct(click_t, 95), "clicks": len(click_t),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", default=None, help="cache folder (default: a fresh temp dir)")
    args = parser.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="spear-webshop-bench-")
    os.environ["SPEAR_BENCH_CACHE"] = cache
    print(f"cache: {cache}")
    for n in args.sizes:
        r = bench(n, args.queries)
        out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(n)], capture_output=True, text=True,
                             env=dict(os.environ), check=True)
        r.update(json.loads(out.stdout))
        print(f"\n== {n:,} products ({r['goals']:,} train goals)")
        print(f"catalog generate+load  {r['catalog_load_s']:8.2f} s")
        print(f"index build            {r['index_build_s']:8.2f} s")
        print(f"search p50 / p95       {r['search_p50_ms']:8.3f} / {r['search_p95_ms']:.3f} ms"
              f"   (p95 / target {r['search_p95_ms'] / TARGETS['search_p95_ms']:.2f})")
        print(f"search CPU p50 / p95   {r['search_cpu_p50_ms']:8.3f} / {r['search_cpu_p95_ms']:.3f} ms"
              f"   (CPU time: robust to other load on the machine; load avg {os.getloadavg()[0]:.1f})")
        print(f"click  p50 / p95       {r['click_p50_ms']:8.3f} / {r['click_p95_ms']:.3f} ms"
              f"   (p50 / target {r['click_p50_ms'] / TARGETS['click_p50_ms']:.2f}; {r['clicks']} clicks)")
        print(f"RSS after imports      {r['import_mb']:8.1f} MB")
        print(f"RSS 1 env / 16 envs    {r['rss_1_mb']:8.1f} / {r['rss_16_mb']:.1f} MB"
              f"   (16 envs / target {r['rss_16_mb'] / TARGETS['rss_16_mb']:.2f}; "
              f"16 envs / 1 env {r['rss_16_mb'] / r['rss_1_mb']:.2f})")


if __name__ == "__main__":
    main()
