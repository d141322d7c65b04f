"""Data-parallel learning on ``torch.distributed`` (see docs/training.md, "Several processes").

Launch: ``torchrun --nproc-per-node N -m spear_train.cli run ...`` or ``spear-bench run --nproc N``
(which runs torchrun for you). Backend: NCCL on CUDA, gloo on CPU. Each of the N ranks

1. rolls out its contiguous share of the step's ``groups_per_step`` groups (:func:`group_shard`; the task
   seeds are the ones a single process would play);
2. all-gathers the step's rollouts (:func:`gather_rollout`): samples are ids and floats, so every rank then
   holds the whole step, in rank order, and computes the same scores, filters, GRPO/GiGPO advantages,
   SPEAR baseline and replay buffer with the same generator draws;
3. trains on its share of each mini-batch's micro-batches (:class:`DataParallel`).

Why the gradients equal the single-process ones: :func:`~spear_train.training.update.optimise` backpropagates
``w · loss_j / M`` for each of the ``M`` micro-batches ``j`` of a mini-batch. Here micro-batch ``j`` is
computed by rank ``j mod N`` only, with the same weight, and the gradients are all-reduced with a SUM::

    g = Σ_r Σ_{j ≡ r (mod N)} ∇(w · loss_j / M) = Σ_j ∇(w · loss_j / M)

which is the single-process gradient (the micro-batches, their padding and their loss normalisation are
the same; only the float summation order differs). Gradient clipping and the AdamW step then run on the
identical summed gradient on every rank, so the replicas stay equal without re-broadcasting weights.
We reduce explicitly instead of wrapping the model in ``DistributedDataParallel``: ranks may own different
numbers of micro-batches (DDP needs every rank in every synced backward), and parameters no rank touched
must keep ``grad = None`` as they would in one process (AdamW skips them).

Evaluations: every rank plays a contiguous share of the evaluation's chunks, each chunk seeded on its own,
and rank 0 merges them (the episodes one process plays). Rank 0 logs, checkpoints and writes ``result.json``;
on ``--resume`` every rank reads the newest good checkpoint from the run folder (across machines, put ``--out`` on a shared filesystem).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from spear_train.rollout.samples import Rollout

#: Collective timeout: rank 0's checkpoints (and a rank's slower share of an evaluation) make the others wait.
TIMEOUT = timedelta(hours=2)
#: Gradients are all-reduced in flat buckets of at most this many elements (bounds the extra memory).
BUCKET_ELEMENTS = 32 * 1024 * 1024


class DistributedError(RuntimeError):
    """A data-parallel run cannot start (bad launch environment or config); the message says why."""


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job: ``rank`` of ``world_size`` (``local_rank`` on its machine)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that merges the evaluations, logs, checkpoints and writes ``result.json``."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


SINGLE = DistContext()


def launched_by_torchrun(environ=os.environ) -> bool:
    """True inside a multi-process launch (torchrun sets ``WORLD_SIZE``)."""
    return int(environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: str, environ=os.environ) -> DistContext:
    """Join the process group torchrun described in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``.

    ``device`` is the run's resolved device: ``cuda`` selects NCCL and ``cuda:LOCAL_RANK``; ``cpu`` gloo.
    """
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in environ]
    if missing:
        raise DistributedError(f"a data-parallel run needs torchrun's environment; {', '.join(missing)} "
                               "not set (launch with torchrun or spear-bench run --nproc N)")
    ctx = DistContext(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda"):
        if ctx.local_rank >= torch.cuda.device_count():
            raise DistributedError(f"local rank {ctx.local_rank} has no GPU: this machine has "
                                   f"{torch.cuda.device_count()}; use --nproc-per-node <= that")
        torch.cuda.set_device(ctx.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=TIMEOUT,
                                rank=ctx.rank, world_size=ctx.world_size)
    return ctx


def check_config(cfg, ctx: DistContext) -> None:
    """Settings a data-parallel run cannot honour; :class:`DistributedError` names the key."""
    if cfg.groups_per_step < ctx.world_size:
        raise DistributedError(f"groups_per_step ({cfg.groups_per_step}) must be >= the number of processes "
                               f"({ctx.world_size}): each process rolls out whole groups")


def group_shard(num_groups: int, rank: int, world_size: int) -> range:
    """The groups rank ``rank`` rolls out: ``[⌊r·G/N⌋, ⌊(r+1)·G/N⌋)`` (contiguous, sizes differ by <= 1)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return range(rank * num_groups // world_size, (rank + 1) * num_groups // world_size)


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not ctx.is_distributed:
        return [obj]
    parts: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(parts, obj)
    return parts


def gather_rollout(rollout: Rollout, ctx: DistContext) -> Rollout:
    """Every rank's rollout of this step, concatenated in rank order (sample and episode lists; token and
    step counts summed; times are the slowest rank's). Identity in a single process."""
    if not ctx.is_distributed:
        return rollout
    parts: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(parts, rollout)
    return Rollout(samples=[s for p in parts for s in p.samples], episodes=[e for p in parts for e in p.episodes],
                   generated_tokens=sum(p.generated_tokens for p in parts), env_steps=sum(p.env_steps for p in parts),
                   seconds=max(p.seconds for p in parts),
                   generation_seconds=max(p.generation_seconds for p in parts),
                   env_seconds=max(p.env_seconds for p in parts))


def broadcast_model(model: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank (the replicas start equal)."""
    if ctx.is_distributed:
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0)


def barrier(ctx: DistContext) -> None:
    if ctx.is_distributed:
        dist.barrier()


def advance_like_micro_batch(micro, settings, generator: torch.Generator | None) -> None:
    """Draw from ``generator`` what :func:`~spear_train.training.update.micro_batch_loss` would for
    ``micro`` (a rank skipping a micro-batch keeps its generator in step with the rank computing it).
    Only Clip-Cov draws: one uniform key per ``[B, R]`` element, ``R`` the longest response."""
    if generator is not None and settings.loss_mode == "clip_cov":
        width = max(int(micro.response_len.max()) if len(micro) else 1, 1)
        torch.rand(len(micro) * width, generator=generator, dtype=torch.float64)


class DataParallel:
    """The hooks :func:`~spear_train.training.update.optimise` and
    :func:`~spear_train.training.update.recompute_logprobs` call to split a batch across ranks."""

    def __init__(self, ctx: DistContext):
        if not (ctx.is_distributed and dist.is_initialized()):
            raise DistributedError("DataParallel needs an initialised process group with >= 2 ranks")
        self.ctx = ctx

    def owns(self, chunk: int) -> bool:
        """Micro-batch ``chunk`` (numbered within its mini-batch) is computed by rank ``chunk mod N``."""
        return chunk % self.ctx.world_size == self.ctx.rank

    def skip(self, micro, settings, generator: torch.Generator | None) -> None:
        advance_like_micro_batch(micro, settings, generator)

    def all_reduce_gradients(self, model: torch.nn.Module) -> None:
        """Sum every parameter's gradient over the ranks (bucketed); a parameter no rank produced a
        gradient for keeps ``grad = None``."""
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return
        device = params[0].device
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
        dist.all_reduce(has)
        live = [p for p, h in zip(params, has.tolist()) if h > 0]
        for p in live:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        for bucket in _buckets(live):
            flat = torch.cat([p.grad.reshape(-1) for p in bucket])
            dist.all_reduce(flat)
            offset = 0
            for p in bucket:
                n = p.numel()
                p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
                offset += n

    def merge_stats(self, stats):
        """The step's update statistics from every rank (loss/clipfrac/KL/entropy lists concatenated in
        rank order, tokens summed; steps and grad norms are the same on every rank)."""
        parts: list[Any] = [None] * self.ctx.world_size
        dist.all_gather_object(parts, stats)
        merged = type(stats)(stats.optimizer_steps, grad_norm=list(stats.grad_norm))
        for p in parts:
            merged.loss += p.loss
            merged.clipfrac += p.clipfrac
            merged.approx_kl += p.approx_kl
            merged.entropy += p.entropy
            merged.tokens += p.tokens
        return merged

    def merge_logprobs(self, rows: torch.Tensor, done: list[int]) -> torch.Tensor:
        """``[N, R]`` log-prob rows computed on different ranks (rank r filled the rows ``done``) as one
        tensor holding every rank's rows."""
        parts: list[Any] = [None] * self.ctx.world_size
        dist.all_gather_object(parts, (list(done), rows[list(done)]))
        out = torch.zeros_like(rows)
        for index, values in parts:
            if index:
                out[index] = values
        return out


def _buckets(params: list[torch.nn.Parameter]):
    """Consecutive parameters of one dtype, at most :data:`BUCKET_ELEMENTS` elements per bucket."""
    bucket: list[torch.nn.Parameter] = []
    size = 0
    for p in params:
        if bucket and (size + p.numel() > BUCKET_ELEMENTS or p.grad.dtype != bucket[0].grad.dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(p)
        size += p.numel()
    if bucket:
        yield bucket


class WorkerRunDir:
    """What a rank other than 0 sees of the run folder: where checkpoints are (to resume from); its
    logging, plotting and result writing do nothing (rank 0 does them)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    def read_metrics(self) -> list[dict[str, Any]]:
        return []

    def __getattr__(self, name: str):  # log, truncate_metrics_after, plot_learning_curve, close, ...
        return lambda *args, **kwargs: None
