"""Starting a data-parallel run: ``spear-bench run --nproc N`` on one machine, or torchrun directly.

* :func:`launch_local` (``--nproc N``, outside torchrun): writes the resolved config to a YAML file in
  ``<out>/.launch-<pid>/`` and becomes the torchrun agent of ``torchrun --standalone --nproc-per-node N
  -m spear_train.cli run --config FILE`` (plus ``--resume``), so every rank trains exactly the parent's
  config. Killing this process (even with SIGKILL) ends the ranks within a second (:func:`exit_with_parent`).
* :func:`run_distributed` (inside torchrun, ``WORLD_SIZE > 1``): joins the process group; rank 0 runs
  :func:`~spear_train.training.loop.run_seeds` (evaluation, logs, checkpoints, ``result.json``), the other
  ranks :func:`run_worker_seeds`. See :mod:`spear_train.training.distributed` for what the ranks share.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

from spear_train.training.distributed import DistContext, DistributedError, check_config, init_distributed


def torchrun_args(nproc: int, config_path: str | Path, resume: bool,
                  allow_config_change: bool = False) -> list[str]:
    """torchrun's arguments for training ``config_path`` on ``nproc`` processes of this machine."""
    args = ["--standalone", f"--nproc-per-node={nproc}", "-m", "spear_train.cli", "run", "--config", str(config_path)]
    return args + (["--resume"] if resume else []) + (["--allow-config-change"] if allow_config_change else [])


def exit_with_parent(poll_s: float = 0.5) -> None:
    """End this process when its parent (the torchrun agent) dies. torchrun starts each rank in a session
    of its own, so without this a SIGKILLed launcher would leave its ranks running, still writing into
    the run folder that a ``--resume`` is about to use."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def check_resumable(cfg, allow_config_change: bool) -> None:
    """Refuse a ``--resume`` whose config differs from a run folder's saved one (unless allowed), in
    every process alike, before any rank starts training (a refusal on rank 0 alone would leave the
    other ranks waiting in a collective)."""
    import dataclasses

    from spear_train.training.algo_adapter import algorithm_config
    from spear_train.training.loop import run_folder
    from spear_train.training.resume_guard import check_resumed_config

    algorithm = dataclasses.asdict(algorithm_config(cfg))
    for seed in cfg.seeds:
        check_resumed_config(run_folder(cfg, seed) / "config.yaml", cfg, algorithm, allow_config_change)


def launch_local(cfg, nproc: int, resume: bool, allow_config_change: bool = False) -> int:
    """Run ``cfg`` on ``nproc`` local processes under torchrun; returns torchrun's exit status.

    Checks up front what would otherwise fail inside every rank (fresh run into a used folder, too few
    groups per process), so the user sees one clear error."""
    from spear_train.training.loop import TrainingError, run_folder
    from spear_train.training.run_config import save_run_config

    if nproc < 1:
        raise DistributedError(f"--nproc must be >= 1, got {nproc}")
    check_config(cfg, DistContext(0, nproc))
    if resume:
        check_resumable(cfg, allow_config_change)
    if not resume:
        for seed in cfg.seeds:
            folder = run_folder(cfg, seed)
            if (folder / "metrics.jsonl").exists() or (folder / "checkpoints").exists():
                raise TrainingError(f"{folder} already holds a run; pass --resume to continue it, "
                                    "or choose another --out")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    tmp = Path(cfg.out) / f".launch-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        config = tmp / "config.yaml"
        save_run_config(cfg, config)
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default, without its warning
        try:
            torchrun(torchrun_args(nproc, config, resume, allow_config_change))
        except ChildFailedError as exc:
            print(f"spear-bench: a training process failed:\n{exc}", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_worker_seeds(cfg, resume: bool, ctx: DistContext) -> None:
    """What a rank other than 0 does for each seed: roll out its groups and train, silently."""
    from spear_train.training.distributed import WorkerRunDir
    from spear_train.training.loop import Trainer, run_folder
    from spear_train.training.progress import Progress

    for seed in cfg.seeds:
        trainer = Trainer(cfg, seed, WorkerRunDir(run_folder(cfg, seed)), Progress("quiet", cfg.steps), resume,
                          dist=ctx)
        trainer.run()


def run_distributed(cfg, resume: bool, allow_config_change: bool = False) -> None:
    """This process's part of a torchrun launch (``RANK``/``WORLD_SIZE`` in the environment)."""
    import torch.distributed as dist

    from spear_train.training.run_policy import resolve_device
    from spear_train.training.loop import run_seeds

    exit_with_parent()
    ctx = init_distributed(resolve_device(cfg.device))
    try:
        check_config(cfg, ctx)
        if resume:
            check_resumable(cfg, allow_config_change)
        if ctx.is_main:
            run_seeds(cfg, resume=resume, allow_config_change=allow_config_change, dist=ctx)
        else:
            run_worker_seeds(cfg, resume, ctx)
        dist.barrier()  # rank 0 has written result.json
    finally:
        dist.destroy_process_group()
