"""One rank of the data-parallel equivalence test (run as ``python -m tests.training.dist_worker``).

Reads a run config and the pickled rollouts of a few steps, joins the gloo group described by torchrun's
environment variables, trains on its contiguous share of each step's samples (gathered to every rank by
the learner) and saves its parameters and metric rows to ``OUT/rank<R>.pt``."""

from __future__ import annotations

import pickle
import sys

import torch

import tests.rollout.toy  # noqa: F401  (registers the test envs)
import tests.training.toy_train  # noqa: F401
from spear_train.rollout.samples import Rollout
from spear_train.training.distributed import WorkerRunDir, gather_rollout, init_distributed
from spear_train.training.loop import Trainer
from spear_train.training.progress import Progress
from spear_train.training.run_config import resolve_run_config


def shard(rollout: Rollout, rank: int, world: int) -> Rollout:
    """Rank ``rank``'s contiguous slice of the samples and episodes (concatenated in rank order by the
    learner's all-gather, the slices give back the original lists)."""
    def part(xs):
        return xs[rank * len(xs) // world:(rank + 1) * len(xs) // world]

    return Rollout(part(rollout.samples), part(rollout.episodes), generated_tokens=rollout.generated_tokens)


def main(config_path: str, rollouts_path: str, out: str) -> None:
    torch.set_num_threads(1)
    cfg = resolve_run_config({}, config_path)
    ctx = init_distributed("cpu")
    with open(rollouts_path, "rb") as f:
        rollouts = pickle.load(f)
    trainer = Trainer(cfg, cfg.seeds[0], WorkerRunDir(out), Progress("quiet", cfg.steps), resume=False, dist=ctx)
    rows = [trainer.learn(t, gather_rollout(shard(r, ctx.rank, ctx.world_size), ctx))
            for t, r in enumerate(rollouts, start=1)]
    trainer.rollouts.close()
    torch.save({"params": {k: v.detach().clone() for k, v in trainer.policy.model.state_dict().items()},
                "rows": rows}, f"{out}/rank{ctx.rank}.pt")


def evaluate(config_path: str, out: str) -> None:
    """Evaluate the start policy as a data-parallel run does (every rank its share of the chunks); rank 0 saves
    the merged episodes and records, every rank its own ``last_eval`` episode count."""
    from dataclasses import asdict

    torch.set_num_threads(1)
    cfg = resolve_run_config({}, config_path)
    ctx = init_distributed("cpu")
    from spear_train.training.run_dir import RunDir

    run_dir = RunDir(f"{out}/run", resume=False) if ctx.is_main else WorkerRunDir(out)  # as launch.py does
    trainer = Trainer(cfg, cfg.seeds[0], run_dir, Progress("quiet", cfg.steps), resume=False, dist=ctx)
    trainer.evaluate(0)
    trainer.rollouts.close()
    result = trainer.last_eval
    torch.save({"summaries": [asdict(e) for e in result.summaries], "records": [asdict(r) for r in result.records],
                "success": result.success}, f"{out}/eval{ctx.rank}.pt")


def grads(out: str) -> None:
    """Rank 0 backpropagates through layer ``a``, rank 1 through ``a`` and ``b``, nobody through ``c``;
    saves the gradients after :meth:`DataParallel.all_reduce_gradients`."""
    from spear_train.training.distributed import DataParallel

    ctx = init_distributed("cpu")
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({k: torch.nn.Linear(3, 3) for k in "abc"})
    x = torch.full((1, 3), float(ctx.rank + 1))
    loss = model["a"](x).sum() if ctx.rank == 0 else (model["a"](x) + model["b"](x)).pow(2).sum()
    loss.backward()
    DataParallel(ctx).all_reduce_gradients(model)
    torch.save({n: p.grad for n, p in model.named_parameters()}, f"{out}/grads{ctx.rank}.pt")


if __name__ == "__main__":
    import torch.distributed as dist

    try:
        if sys.argv[1] == "grads":
            grads(sys.argv[2])
        elif sys.argv[1] == "evaluate":
            evaluate(sys.argv[2], sys.argv[3])
        else:
            main(*sys.argv[1:4])
        dist.barrier()
    finally:  # as launch.run_distributed does: a gloo group left alive at exit can abort the process
        if dist.is_initialized():  # ("terminate called without an active exception", exit status 134)
            dist.destroy_process_group()
