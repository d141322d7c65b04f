"""The SFT recipe: one documented dataclass (TRL style) holding every choice ``spear-bench sft`` makes.

The shipped checkpoints carry the recipe they were trained with as ``recipe.json``; a test checks it
equals :func:`default_recipe` for that env, so the shipped weights and the command cannot drift apart.
Defaults follow the measurements in docs/models.md ('The tiny policy', 'Recipe').
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from spear_train.models.tiny_model import TinyModelShape


@dataclass(frozen=True)
class SFTRecipe:
    """Everything that determines an SFT run, apart from the wall-clock budget and output folder.

    Data
        env_id: the environment whose expert plays the training tasks.
        train_tasks: generated *training* tasks played by the expert; only won, non-degenerate
            episodes enter the data, one example per agent turn.
        data_seed: first task seed of the training split (task ``i`` uses seed ``data_seed + i``).
        history_length: (observation, action) pairs shown in each prompt (docs/rollouts.md,
            'Prompts and history window').
        prompt_format: ``""`` (the env's own prompts: ``window`` for ALFWorld and WebShop, the paper's) or
            ``chat`` (ALFWorld: one growing conversation, one example per episode; docs/rollouts.md,
            'Prompt formats'); ``max_prompt_tokens`` then bounds a whole episode.
        max_prompt_tokens: longer prompts are dropped from the data (counted in the data summary).
        first_turn_copies: each won episode's first turn enters the data this many times (WebShop: the
            search, where the policy must copy the instruction, the skill its failures trace back to;
            docs/models.md, 'Recipe').
        detour_rate: probability that an expert turn is replaced by a random admissible action, kept as
            context of the later turns but never a target, so the data holds states off the expert's path
            and the expert's recovery from them (docs/models.md, 'Detours in the expert data'); 0: none.
    Tokenizer and model (ignored when fine-tuning a given ``--model``)
        vocab_size: upper bound for the game-trained BPE; ``split_digits``: one token per digit (math,
            where the policy must copy the problem's numbers into its code).
        shape: the tiny model's architecture; ``init_seed`` its deterministic init.
    Optimisation: AdamW(``betas``, ``weight_decay``), gradient clip ``max_grad_norm``, linear warm-up
        over ``warmup_fraction`` of training then cosine decay to ``min_lr_ratio * lr``; ``epochs`` passes
        over length-bucketed batches of ``batch_size`` examples, shuffled with ``shuffle_seed``.
        Loss: mean cross-entropy over response tokens only.

    How the result is evaluated lives in :class:`spear_train.sft.evaluate.EvalConfig`, not here.
    """

    env_id: str = "spear/ALFWorld-v0"
    train_tasks: int = 1500
    data_seed: int = 0
    history_length: int = 2
    prompt_format: str = ""
    max_prompt_tokens: int = 768
    first_turn_copies: int = 1
    detour_rate: float = 0.0
    max_response_tokens: int = 24
    vocab_size: int = 2048
    split_digits: bool = False
    shape: TinyModelShape = field(default_factory=TinyModelShape)
    init_seed: int = 0
    lr: float = 3e-3
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    warmup_fraction: float = 0.03
    min_lr_ratio: float = 0.1
    epochs: float = 2.0
    batch_size: int = 16
    shuffle_seed: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SFTRecipe":
        """Inverse of :meth:`to_dict`; unknown keys are a ``ValueError`` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SFT recipe fields: {unknown}")
        data = dict(data)
        if "shape" in data:
            data["shape"] = TinyModelShape(**data["shape"])
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "SFTRecipe":
        return cls.from_dict(json.loads(Path(path).read_text()))


#: Per-env overrides of the defaults above (what ``spear-bench sft --env ENV`` uses).
ENV_OVERRIDES: dict[str, dict] = {
    "spear/ALFWorld-v0": {"train_tasks": 1500, "epochs": 2.0},
    "spear/WebShop-v0": {"train_tasks": 4000, "max_prompt_tokens": 1536, "max_response_tokens": 64, "epochs": 2.0,
                          "first_turn_copies": 3},
    "spear/MathTool-v0": {"train_tasks": 16000, "max_prompt_tokens": 1024, "max_response_tokens": 256, "epochs": 4.0,
                          "split_digits": True},
}


#: Per-env overrides for the ``chat`` prompt format, over :data:`ENV_OVERRIDES` (``--prompt-format chat``):
#: an episode of ALFWorld's 30 laptop turns is ~1,450 tokens with the shipped tokenizer; one example is a whole
#: episode (~10 expert turns), so batches of 4 episodes for 6 epochs give about the optimiser steps of the window
#: recipe (2,250 vs 2,324).
CHAT_OVERRIDES: dict[str, dict] = {
    "spear/ALFWorld-v0": {"prompt_format": "chat", "max_prompt_tokens": 2048, "batch_size": 4, "epochs": 6.0},
}


def default_recipe(env_id: str, prompt_format: str = "") -> SFTRecipe:
    """The recipe ``spear-bench sft --env ENV [--prompt-format chat]`` uses by default."""
    if env_id not in ENV_OVERRIDES:
        raise KeyError(f"no SFT recipe for {env_id!r}; known: {sorted(ENV_OVERRIDES)}")
    if prompt_format in ("", "window"):
        return SFTRecipe(env_id=env_id, **ENV_OVERRIDES[env_id])
    if (env_id, prompt_format) != ("spear/ALFWorld-v0", "chat"):
        raise KeyError(f"no {prompt_format!r} SFT recipe for {env_id!r}; the chat format has: {sorted(CHAT_OVERRIDES)}")
    return SFTRecipe(env_id=env_id, **{**ENV_OVERRIDES[env_id], **CHAT_OVERRIDES[env_id]})
