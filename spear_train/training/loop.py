"""A training run: every seed of a config trained one after the other (:func:`run_seeds`), each by a
:class:`~spear_train.training.trainer.Trainer` into its run folder, with the before/after summary and the
result document. The training step itself, phase by phase, is in spear_train/training/trainer.py
(docs/algorithms.md, 'Training step order').
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from spear_train.training.algo_adapter import algorithm_config
from spear_train.training.distributed import SINGLE, DistContext
from spear_train.training.errors import TrainingError
from spear_train.training.initial_eval import initial_eval_key
from spear_train.training.run_config import RunConfig
from spear_train.training.seeds import derive_seed
from spear_train.training.step_values import mixed_group_rate
from spear_train.training.trainer import Trainer

__all__ = ["Trainer", "TrainingError", "build_run_result", "derive_seed", "initial_eval_key", "mixed_group_rate",
           "run_folder", "run_seeds"]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_folder(cfg: RunConfig, seed: int) -> Path:
    return Path(cfg.out) / f"{cfg.algo}-{cfg.env_name}-seed{seed}"


def build_run_result(cfg: RunConfig, trainer: "Trainer", records_by_seed: dict, wall_time_s: float) -> dict:
    """The result document (leaderboard schema, :mod:`spear_train.leaderboard.schema`) as a dict."""
    from spear_train.leaderboard.schema import ModelInfo, build_result
    from spear_train.training.run_policy import model_name

    params = sum(p.numel() for p in trainer.policy.model.parameters())
    result = build_result(
        records_by_seed, method=f"{cfg.algo} ({model_name(cfg)})",
        model=ModelInfo(name=model_name(cfg), parameters=params, weights_sha256=trainer.start_weights_sha256),
        wall_time_s=wall_time_s,
        preset=cfg.algo, config={**dataclasses.asdict(cfg), "algorithm": dataclasses.asdict(trainer.algo)},
        description=f"spear-bench run: {cfg.steps} steps from {model_name(cfg)}; eval on the held-out split",
    )
    return json.loads(result.to_json())


def run_seeds(cfg: RunConfig, resume: bool = False, initial_evals: dict | None = None,
              allow_config_change: bool = False, dist: DistContext = SINGLE) -> list[dict[str, Any]]:
    """Train every seed of ``cfg`` one after the other; print before/after success per seed and the
    mean ± standard error over seeds. Returns one summary dict per seed.

    ``resume`` with a config other than the run folder's is refused unless ``allow_config_change``
    (then logged in metrics.jsonl; :mod:`spear_train.training.resume_guard`).

    ``initial_evals``: a dict the caller keeps across calls (``initial_eval_key`` -> result); a step-0
    evaluation found there is reused instead of played again (comparison benchmarks train several
    presets from one starting policy). ``dist``: rank 0 of a data-parallel run (spear_train.training.launch)."""
    from spear_train.training.run_policy import model_name
    from spear_train.training.evaluation import mean_se, paired_gain
    from spear_train.training.progress import Progress
    from spear_train.training.resume_guard import check_resumed_config, config_change_row
    from spear_train.training.run_dir import RunDir, RunDirError

    summaries = []
    for seed in cfg.seeds:
        try:
            run_dir = RunDir(run_folder(cfg, seed), resume=resume)
        except RunDirError as exc:
            raise TrainingError(str(exc)) from None
        changes = check_resumed_config(run_dir.config_path, cfg, dataclasses.asdict(algorithm_config(cfg)),
                                       allow_config_change) if resume else {}
        progress = Progress(cfg.log_mode, cfg.steps, desc=f"{cfg.algo} seed {seed}")
        try:
            trainer = Trainer(cfg, seed, run_dir, progress, resume=resume, initial_evals=initial_evals, dist=dist)
            if changes:
                run_dir.log(config_change_row(trainer.step, changes))
            progress.start_at(trainer.step)
            timing = trainer.run()
            records = trainer.last_eval.records  # recorded while the final evaluation played
            if records:
                run_dir.write_result(build_run_result(cfg, trainer, {seed: records}, timing["wall_time_s"]))
        finally:
            progress.close()
            run_dir.close()
        before, after = trainer.eval_history[0], trainer.eval_history[-1]
        gain, gain_se, _ = paired_gain(*(_read_jsonl(run_dir.eval_records_path(r["step"])) for r in (before, after)))
        summary = {"seed": seed, "run_dir": str(run_dir.path), "before": before["success"],
                   "before_se": before["success_se"], "after": after["success"], "after_se": after["success_se"],
                   "gain": gain, "gain_se": gain_se, "wall_time_s": timing["wall_time_s"]}
        summaries.append(summary)
        progress.summary(
            f"{cfg.algo} from {model_name(cfg)} on {cfg.env_id}, seed {seed}: success before {before['success']:.3f} ± "
            f"{before['success_se']:.3f}, after {after['success']:.3f} ± {after['success_se']:.3f}, "
            f"gain {gain:+.3f} ± {gain_se:.3f} (paired SE over the same {before['episodes']} held-out tasks; "
            f"{timing['wall_time_s']:.0f} s) -> {run_dir.path}")
    if len(summaries) > 1:
        for key in ("before", "after", "gain"):
            mean, se = mean_se([s[key] for s in summaries])
            Progress("json" if cfg.log_mode == "json" else "quiet", 0).summary(
                f"{cfg.algo} {key}: success {mean:.3f} ± {se:.3f} (mean ± SE over {len(summaries)} seeds)")
    return summaries
