"""How often a policy picks the expert's action (ALFWorld), turn by turn, on the expert's path or its own.

At every turn of each held-out game the policy is asked for its greedy action (constrained to the admissible
commands, as a laptop run decodes) in the context its prompt format builds from the episode so far, and the
env's scripted expert is asked for its action in the same state. ``--follow expert`` (default) sends the
expert's action to the env: every policy is scored on the same states, the expert's, and an error does not
carry over to later turns (teacher forcing). ``--follow policy`` sends the policy's own action: the states
are then the policy's, and the agreement after its first error shows how well it recovers. Printed:
agreement overall and by turn bucket, per policy, and the episodes' win rate.

Why: a policy that agrees with the expert on the expert's states but loses its own episodes suffers from its
own errors (states the expert never visits); one that disagrees on the expert's states has not learned the
turn. docs/models.md ('Shipped checkpoints') uses it to compare the `window` and `chat` policies::

    python benchmarks/expert_agreement.py --games 140 [--follow policy] \\
        --policy window=spear-tiny-alfworld --policy chat=spear-tiny-alfworld-chat
"""

from __future__ import annotations

import argparse
import time

BUCKETS = ((0, 4), (5, 9), (10, 14), (15, 19), (20, 49))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--policy", action="append", required=True, metavar="FORMAT=MODEL",
                   help="prompt format (window or chat) and policy name or folder; repeatable")
    p.add_argument("--games", type=int, default=140, help="held-out games 0..N-1 (default 140, the laptop split)")
    p.add_argument("--follow", choices=("expert", "policy"), default="expert",
                   help="whose action the env gets: the expert's (teacher forcing, default) or the policy's")
    p.add_argument("--batch", type=int, default=35, help="games played side by side (default 35)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    args.policies = []
    for item in args.policy:
        fmt, sep, model = item.partition("=")
        if not sep or fmt not in ("window", "chat") or not model:
            p.error(f"--policy must be window=MODEL or chat=MODEL, got {item!r}")
        args.policies.append((fmt, model))
    for name in ("games", "batch", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


class ScoringAgent:
    """Asks the policy for its greedy constrained choice and scores it against the expert's action; replies
    with the expert's action (``follow="expert"``: decoded through a trie holding only that action, so the
    reply's ids are the policy's own encoding of it) or with its own choice (``follow="policy"``)."""

    name = "scoring"

    def __init__(self, policy, cfg, follow: str = "expert"):
        from spear_train.policy.fast_decode import make_generator
        from spear_train.policy.generation import SamplingConfig

        self.policy = policy
        self.generator = make_generator(policy.model, policy.tokenizer, cfg.decode_backend)
        self.stop = self.generator.stop_ids[0]
        self.sampling = SamplingConfig(temperature=0.0, max_new_tokens=cfg.max_response_tokens)
        self.follow = follow
        self.turns: list[tuple[int, bool]] = []  # (turn number, agreed)
        self._turn: dict[int, int] = {}

    def act(self, turns, pool):
        from spear_train.policy.constrained import DEFAULT_TEMPLATE
        from spear_train.policy.search_queries import turn_trie
        from spear_train.rollout.agents import Reply

        tok = self.policy.tokenizer
        prompts = [t.context_ids if t.context_ids is not None else self.policy.prompt_ids(t.messages) for t in turns]
        expert = pool.expert_actions([t.slot for t in turns])
        own = self.generator.generate(prompts, self.sampling, tries=[
            turn_trie(tok, t.admissible_actions, self.stop, DEFAULT_TEMPLATE, t.task) for t in turns])
        forced = self.generator.generate(prompts, self.sampling, tries=[
            turn_trie(tok, [expert[t.slot]], self.stop, DEFAULT_TEMPLATE, t.task) for t in turns])
        for t, mine, gold in zip(turns, own.generations, forced.generations):
            k = self._turn.get(t.slot, 0)
            self._turn[t.slot] = k + 1
            self.turns.append((k, mine.token_ids == gold.token_ids))
        sent = forced if self.follow == "expert" else own
        return [Reply(tok.decode(g.token_ids, skip_special_tokens=True), tok.decode(g.token_ids), list(p),
                      g.token_ids, g.logprobs, not g.finished, sent.distribution)
                for p, g in zip(prompts, sent.generations)]


def agreement(fmt: str, model: str, args) -> tuple[list[tuple[int, bool]], float, float]:
    """``(turns, win rate, seconds)`` of one policy through ``args.games`` games (on the ``args.follow`` path)."""
    from spear_train.policy import load_policy
    from spear_train.rollout import RolloutCollector, make_env_pool
    from spear_train.training.eval_result import play_config
    from spear_train.training.evaluation import env_spec, rollout_config
    from spear_train.training.run_config import resolve_run_config

    cfg = resolve_run_config({"algo": "spear", "env": "alfworld", "device": "cpu", "prompt_format": fmt,
                              "model": model})
    spec = env_spec(play_config(cfg, "expert"), held_out=True)  # held-out games with the expert switched on
    agent = ScoringAgent(load_policy(model, device="cpu"), cfg, args.follow)
    start, won, played = time.perf_counter(), 0, 0
    for first in range(0, args.games, args.batch):
        seeds = list(range(first, min(first + args.batch, args.games)))
        agent._turn = {}
        pool = make_env_pool(spec, len(seeds), 0)
        try:
            episodes = RolloutCollector(cfg.env_id, agent, pool, rollout_config(cfg, 1)).collect(seeds).episodes
        finally:
            pool.close()
        won += sum(e.won for e in episodes)
        played += len(episodes)
    return agent.turns, won / max(played, 1), time.perf_counter() - start


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    header = " | ".join(f"turns {lo}-{hi}" if hi < 49 else f"turns {lo}+" for lo, hi in BUCKETS)
    print(f"Agreement with the expert's action, on the {args.follow}'s path, {args.games} held-out games")
    print(f"| policy | format | all turns | {header} | episodes won |")
    print("|---|---|---|" + "---|" * len(BUCKETS) + "---|")
    for fmt, model in args.policies:
        turns, wins, seconds = agreement(fmt, model, args)
        cells = []
        for lo, hi in BUCKETS:
            got = [ok for k, ok in turns if lo <= k <= hi]
            cells.append(f"{100 * sum(got) / len(got):.0f}% of {len(got)}" if got else "-")
        total = sum(ok for _, ok in turns) / max(len(turns), 1)
        print(f"| {model} | {fmt} | {100 * total:.1f}% of {len(turns)} | {' | '.join(cells)} | {100 * wins:.0f}% "
              f"({seconds:.0f} s) |", flush=True)


if __name__ == "__main__":
    main()
