"""Speed of the vectorised algorithm functions at the reference's batch scale.

Baselines measured in the same run: a straightforward per-group / per-sample Python implementation of
the same rule (results are checked equal before timing). Prints milliseconds and speed-up ratios.

Usage::

    python benchmarks/algorithms_bench.py [--samples 6400] [--width 512] [--threads 2]

Figures depend on the machine and its load; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch

from spear_train.algorithms import (
    clip_cov_loss,
    discounted_returns,
    gigpo_advantage,
    grpo_advantage,
    ppo_clip_loss,
    repetitive_flags,
)


def best_ms(fn, repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def grpo_loop(scores: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Per-group Python loop baseline of the GRPO advantage (std on)."""
    out = torch.empty_like(scores)
    for g in groups.unique().tolist():
        idx = groups == g
        s = scores[idx]
        mean, std = (s.mean(), s.std()) if s.numel() > 1 else (torch.tensor(0.0), torch.tensor(1.0))
        out[idx] = (s - mean) / (std + 1e-6)
    return out


def repetitive_loop(ids: torch.Tensor, mask: torch.Tensor, n: int = 20, k: int = 10) -> torch.Tensor:
    """Per-sample Counter baseline of the repetition flag."""
    flags = []
    for row, m in zip(ids.tolist(), mask.sum(-1).tolist()):
        row = row[: int(m)]
        counts = Counter(tuple(row[i:i + n]) for i in range(len(row) - n + 1))
        flags.append(bool(counts) and max(counts.values()) >= k)
    return torch.tensor(flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=6400, help="samples per step (ALFWorld: 256 trajectories × ~25 steps)")
    parser.add_argument("--width", type=int, default=512, help="padded response width L")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    b, l = args.samples, args.width
    groups = torch.randint(0, 32, (b,), generator=g)
    traj = groups * 8 + torch.randint(0, 8, (b,), generator=g)
    scores = (torch.rand(b, generator=g, dtype=torch.float64) < 0.3).double() * 10
    anchors = torch.randint(0, 200, (b,), generator=g)

    torch.testing.assert_close(grpo_advantage(scores, groups), grpo_loop(scores, groups))
    vec = best_ms(lambda: grpo_advantage(scores, groups))
    loop = best_ms(lambda: grpo_loop(scores, groups))
    print(f"grpo_advantage      B={b}: {vec:8.2f} ms   per-group loop {loop:8.2f} ms   speed-up ×{loop / vec:.1f}")
    returns = discounted_returns(scores, traj, 0.95)
    print(f"gigpo_advantage     B={b}: {best_ms(lambda: gigpo_advantage(scores, discounted_returns(scores, traj, 0.95), groups, anchors)):8.2f} ms"
          f"   (incl. discounted returns; ratio vs grpo ×{best_ms(lambda: gigpo_advantage(scores, returns, groups, anchors)) / vec:.1f})")

    rows = 256
    ids = torch.randint(0, 50, (rows, l), generator=g)
    ids[::7, :200] = 3  # some repetitive rows
    mask = torch.ones(rows, l)
    assert torch.equal(repetitive_flags(ids, mask), repetitive_loop(ids, mask))
    vec = best_ms(lambda: repetitive_flags(ids, mask), 3)
    loop = best_ms(lambda: repetitive_loop(ids, mask), 3)
    print(f"repetitive_flags    {rows}×{l}: {vec:8.2f} ms   per-sample Counter {loop:8.2f} ms   speed-up ×{loop / vec:.1f}")

    micro = 8
    lp = -torch.rand(micro, l, generator=g) * 3
    old = lp + (torch.rand(micro, l, generator=g) - 0.5) * 0.2
    adv = torch.randn(micro, 1, generator=g).expand(micro, l)
    m = torch.ones(micro, l)
    ppo = best_ms(lambda: ppo_clip_loss(lp, old, adv, m, 0.2, 0.28, 10.0, "seq-mean-token-sum-norm"), 20)
    cov = best_ms(lambda: clip_cov_loss(lp, old, adv, m, generator=torch.Generator().manual_seed(0)), 20)
    print(f"policy loss micro-batch {micro}×{l}: ppo_clip {ppo:.3f} ms   clip_cov {cov:.3f} ms   ratio ×{cov / ppo:.1f}")


if __name__ == "__main__":
    main()
