"""One DAgger round for the ALFWorld `window` policy (an experiment; docs/models.md, 'Learning from its own
states').

1. The policy plays ``--games`` training games (from game ``--first-game``) at ``--temperature`` under
   constrained decoding, as a laptop run samples; at every turn the env's handcoded expert is asked for
   its action in the state the policy reached, and the turn's prompt (the policy's own history window)
   is kept with the expert's action as the target (``SFTExample``). The policy's action is what the env
   gets, so the states are the policy's (cached in ``<out>/dagger_examples.jsonl``).
2. ``spear-bench sft``'s trainer fine-tunes the policy on those examples plus a ``--expert-fraction`` of the
   recipe's expert data (its data cache; ``--detour-rate`` picks which), for ``--epochs`` at peak ``--lr``,
   and evaluates the result with the SFT harness (``<out>/sft/model/eval.json``).

The session that wrote it ran (docs/models.md, 'Learning from its own states', has the figures)::

    python benchmarks/dagger_round.py --games 300 --out runs/dagger1 --expert-fraction 0.5 --epochs 1 \\
        --lr 1e-3 --detour-rate 0.2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path
from unittest import mock


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--model", default="spear-tiny-alfworld", help="the policy to play and fine-tune")
    p.add_argument("--games", type=int, default=300, help="training games the policy plays (default 300)")
    p.add_argument("--first-game", type=int, default=1000, help="first training game (default 1000)")
    p.add_argument("--temperature", type=float, default=1.0, help="the policy's sampling temperature (default 1.0)")
    p.add_argument("--expert-fraction", type=float, default=0.5,
                   help="share of the recipe's expert turns kept beside the DAgger turns (default 0.5)")
    p.add_argument("--detour-rate", type=float, default=0.0, help="which expert data cache (default 0: plain)")
    p.add_argument("--epochs", type=float, default=1.0, help="fine-tuning epochs (default 1)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--out", default="runs/dagger", help="output folder (default runs/dagger)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.games < 1 or args.threads < 1:
        p.error("--games and --threads must be >= 1")
    if not 0 <= args.expert_fraction <= 1 or args.temperature <= 0 or args.epochs <= 0 or args.lr <= 0:
        p.error("--expert-fraction must be in [0, 1]; --temperature, --epochs and --lr must be > 0")
    return args


def dagger_examples(args) -> list:
    """The policy's states on ``args.games`` training games, each labelled with the expert's action."""
    from spear_train.policy import load_policy
    from spear_train.policy.generation import SamplingConfig
    from spear_train.rollout import RolloutCollector, make_env_pool
    from spear_train.rollout.agents import ModelAgent
    from spear_train.rollout.workers import EXPERT_ENV_KWARGS
    from spear_train.sft.data import SFTExample, agent_response
    from spear_train.training.rollout_runner import env_spec, rollout_config
    from spear_train.training.run_config import resolve_run_config

    cache = Path(args.out) / "dagger_examples.jsonl"
    if cache.exists():
        return [SFTExample(**json.loads(line)) for line in cache.read_text().splitlines()]
    cfg = resolve_run_config({"algo": "spear", "env": "alfworld", "device": "cpu"})
    spec = env_spec(cfg)
    spec = dataclasses.replace(spec, kwargs={**spec.kwargs, **EXPERT_ENV_KWARGS[cfg.env_id]})
    agent = ModelAgent(load_policy(args.model, device="cpu"),
                       SamplingConfig(temperature=args.temperature, max_new_tokens=cfg.max_response_tokens),
                       constrained=True, seed=99)
    rows: list[dict] = []

    class Labeller:  # the policy acts; each turn's prompt is kept with the expert's action as its target
        name = "dagger"

        def act(self, turns, pool):
            expert = pool.expert_actions([t.slot for t in turns])
            rows.extend({"messages": t.messages, "response": agent_response(expert[t.slot]), "train": True}
                        for t in turns)
            return agent.act(turns, pool)

    start, won, played = time.perf_counter(), 0, 0
    last = args.first_game + args.games
    for first in range(args.first_game, last, 25):
        seeds = list(range(first, min(first + 25, last)))
        pool = make_env_pool(spec, len(seeds), 0)
        try:
            episodes = RolloutCollector(cfg.env_id, Labeller(), pool, rollout_config(cfg, 1)).collect(seeds).episodes
        finally:
            pool.close()
        won += sum(e.won for e in episodes)
        played += len(episodes)
        print(f"DAgger games {played}/{args.games}: the policy won {won}; {len(rows)} labelled states "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [SFTExample(**r) for r in rows]


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    from spear_train.sft import trainer
    from spear_train.sft.recipe import default_recipe

    torch.set_num_threads(args.threads)
    dagger = dagger_examples(args)
    expert_examples = trainer.expert_examples

    def mixed(*a, **k):  # the recipe's expert data (its cache), a fraction of it, then the DAgger turns
        examples, summary = expert_examples(*a, **k)
        rng = random.Random(0)
        kept = [e for e in examples if rng.random() < args.expert_fraction]
        print(f"SFT data: {len(kept)} expert turns + {len(dagger)} DAgger turns", flush=True)
        return kept + dagger, summary

    recipe = dataclasses.replace(default_recipe("spear/ALFWorld-v0"), epochs=args.epochs, lr=args.lr,
                                 detour_rate=args.detour_rate)
    with mock.patch.object(trainer, "expert_examples", mixed):
        result = trainer.run_sft(recipe, trainer.RunOptions(out=Path(args.out) / "sft", model=args.model,
                                                            threads=args.threads, progress=False))
    for name, figures in result.get("evaluation", {}).items():
        if isinstance(figures, dict) and "success" in figures:
            print(f"{name}: success {figures['success']:.3f}" +
                  (f", mixed groups {figures['mixed_group_rate']:.2f}" if figures.get("mixed_group_rate") is not None else ""))


if __name__ == "__main__":
    main()
