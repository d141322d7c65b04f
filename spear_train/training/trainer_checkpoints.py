"""A :class:`~spear_train.training.trainer.Trainer`'s checkpoint glue: what its state is, how a step is
saved (weights in ``policy/``, the rest in the state file; :mod:`spear_train.training.checkpoint`) and how
a resumed trainer gets it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spear_train.training.checkpoint import (POLICY_DIR, load_latest_checkpoint, load_policy_weights, rng_state,
                                             save_checkpoint, set_rng_state)
from spear_train.training.errors import TrainingError


def state(trainer) -> dict[str, Any]:
    """Step, seed, optimiser, replay buffer, baseline history, RNG states, evaluation history and the
    SHA-256 of the weights the run started from (its result names them even if the start folder changes)."""
    return {
        "step": trainer.step, "seed": trainer.seed, "start_weights_sha256": trainer.start_weights_sha256,
        "optimizer": trainer.optimizer.state_dict(),
        "replay_buffer": trainer.buffer.state_dict(), "baseline_history": trainer.history.state_dict(),
        "rng": rng_state(), "generator": trainer.rng.get_state(), "eval_history": trainer.eval_history,
    }


def save(trainer) -> Path | None:
    """Checkpoint the trainer's step into its run folder (rank 0 only: the replicas are equal)."""
    if not trainer.dist.is_main:
        return None
    return save_checkpoint(trainer.run_dir.checkpoints, trainer.step, state(trainer),
                           lambda folder: save_policy(trainer.policy, folder), keep=trainer.cfg.keep_checkpoints)


def save_policy(policy, folder: Path) -> None:
    """A folder ``load_policy`` reloads id for id (game-trained tokenizers keep their probe)."""
    from spear_train.models.tokenizer import save_tokenizer, write_probe

    policy.model.save_pretrained(folder)
    if getattr(policy.tokenizer, "spear_bpe", False):
        save_tokenizer(policy.tokenizer, folder)
    else:
        policy.tokenizer.save_pretrained(folder)
        write_probe(policy.tokenizer, folder, kind="auto")


def restore(trainer) -> None:
    """Load the newest good checkpoint of the trainer's run folder into it (weights, optimiser, buffer,
    history, RNGs, step, evaluation history) and cut metrics.jsonl after that step; with no usable
    checkpoint the seed starts again from step 0."""
    loaded = load_latest_checkpoint(trainer.run_dir.checkpoints)
    if loaded is None:
        if trainer.run_dir.read_metrics():
            trainer.progress.note("no usable checkpoint: starting this seed from step 0")
            trainer.run_dir.truncate_metrics_after(-1)
        return
    s = loaded.state
    if s["seed"] != trainer.seed:
        raise TrainingError(f"{loaded.path} belongs to seed {s['seed']}, not {trainer.seed}")
    if "model" in s:  # checkpoints written before the weights lived only in policy/
        trainer.policy.model.load_state_dict(s["model"])
    else:
        load_policy_weights(trainer.policy.model, loaded.path / POLICY_DIR)
    trainer.optimizer.load_state_dict(s["optimizer"])
    trainer.buffer.load_state_dict(s["replay_buffer"])
    trainer.history.load_state_dict(s["baseline_history"])
    set_rng_state(s["rng"])
    trainer.rng.set_state(s["generator"])
    trainer.step, trainer.eval_history = s["step"], list(s["eval_history"])
    trainer.start_weights_sha256 = s.get("start_weights_sha256")  # None: saved before it was kept, unknown
    trainer.run_dir.truncate_metrics_after(trainer.step)
    trainer.progress.note(f"resumed from {loaded.path} (step {trainer.step})")
