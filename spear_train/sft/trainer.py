"""The SFT training loop behind ``spear-bench sft``.

Read top to bottom: build data (expert episodes, cached) -> tokenizer and model (game-trained BPE and
the tiny model, or a given ``--model``) -> length-bucketed batches -> AdamW with warm-up + cosine ->
loss on response tokens only -> periodic checkpoints -> final model folder -> held-out evaluation.

Output folder ``out``::

    recipe.json             the recipe (a resumed run must use the same one)
    data_summary.json       expert episodes played / won / degenerate, examples kept / dropped
    metrics.jsonl           one line per logged step: step, epoch, loss, lr, tokens, elapsed_s
    loss.png                the loss curve
    checkpoints/step_NNNNNN/ model + tokenizer + trainer_state.pt; ``checkpoints/LATEST`` names the last
                            complete one (written after the folder, by an atomic rename)
    model/                  the final policy: weights, tokenizer, recipe.json, eval.json, checksum.sha256

Time budget: with ``minutes`` the run stops when the budget is spent, and the learning-rate schedule
follows ``max(step progress, time progress)`` so a time-limited run still anneals. The budget covers
training only; data generation and evaluation are extra.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from spear_train.models.builtin import write_checksum
from spear_train.models.tiny_model import build_tiny_model, count_parameters
from spear_train.models.tokenizer import is_game_tokenizer, save_tokenizer, train_tokenizer
from spear_train.policy.loading import Policy, load_policy
from spear_envs.agent_io import prompt_builder_for
from spear_train.sft.data import TokenizedExample, expert_examples, expert_source, tokenize_examples, tokenizer_corpus
from spear_train.sft.evaluate import EvalConfig, eval_run_config, evaluate_policy
from spear_train.sft.recipe import SFTRecipe
from spear_train.training.checkpoint import CheckpointWriteError, checkpoint_name, write_failure_message


@dataclass
class RunOptions:
    """Per-run settings that do not change the trained model's recipe."""

    out: Path
    model: str | None = None  # None: build the tiny model; else a name or path for load_policy
    minutes: float | None = None
    resume: bool = False
    checkpoint_minutes: float = 2.0
    log_every: int = 10
    progress: bool = True
    eval_config: EvalConfig | None = field(default_factory=EvalConfig)  # None: skip the evaluation
    threads: int | None = None


# ----------------------------------------------------------------------------- data and model
def data_cache_file(recipe: SFTRecipe) -> Path:
    """Where the expert episodes of ``recipe`` are cached: keyed by the tasks, the history, the prompt format,
    the detour rate and the expert source's ``version`` (its output format), so a changed expert plays its tasks again."""
    from spear_envs.core import cache_dir

    slug = recipe.env_id.replace("/", "_")
    version = expert_source(recipe.env_id).version
    suffix = f"-e{version}" if version else ""
    return cache_dir("sft-data", slug) / (
        f"expert-n{recipe.train_tasks}-s{recipe.data_seed}-h{recipe.history_length}{suffix}{_format_suffix(recipe)}.jsonl")


def _format_suffix(recipe: SFTRecipe) -> str:
    detours = f"-d{recipe.detour_rate:g}" if recipe.detour_rate else ""
    return (f"-{recipe.prompt_format}" if recipe.prompt_format else "") + detours


def build_policy(recipe: SFTRecipe, examples, opts: RunOptions) -> Policy:
    """The policy to train: a resumed checkpoint, a given model, or a fresh tiny model."""
    if opts.resume and (latest := latest_checkpoint(opts.out)) is not None:
        return load_policy(latest, device="cpu" if not torch.cuda.is_available() else None)
    if opts.model is not None:
        return load_policy(opts.model)
    tokenizer = train_tokenizer(tokenizer_corpus(examples), vocab_size=recipe.vocab_size,
                                split_digits=recipe.split_digits)
    model = build_tiny_model(tokenizer, recipe.shape, seed=recipe.init_seed)
    return Policy(model=model, tokenizer=tokenizer, name="spear-tiny", device=torch.device("cpu"))


def make_batches(examples: list[TokenizedExample], batch_size: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches for one epoch: shuffle, sort within chunks of 50 batches, shuffle batches."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i:i + chunk], key=lambda j: examples[j].length)
        batches.extend(part[k:k + batch_size] for k in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: list[TokenizedExample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``target_mask`` (True where the *next* token is a
    response token to predict), each ``(batch, max_len)``."""
    width = max(e.length for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(examples), width), dtype=torch.long)
    target = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, e in enumerate(examples):
        seq = e.prompt_ids + e.response_ids
        ids[row, : len(seq)] = torch.tensor(seq)
        attn[row, : len(seq)] = 1
        if e.loss_mask is None:
            target[row, len(e.prompt_ids) - 1: len(seq) - 1] = True
        else:
            target[row, len(e.prompt_ids) - 1: len(seq) - 1] = torch.tensor(e.loss_mask, dtype=torch.bool)
    return ids, attn, target


def response_loss(model, ids: torch.Tensor, attn: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the response tokens; the LM head runs only at target positions."""
    hidden = model.base_model(input_ids=ids, attention_mask=attn).last_hidden_state
    logits = model.get_output_embeddings()(hidden[target]).float()
    labels = ids[:, 1:][target[:, :-1]]
    return torch.nn.functional.cross_entropy(logits, labels)


def lr_factor(progress: float, warmup: float, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` of training, then cosine from 1 to ``min_ratio``. ``progress`` in [0, 1]."""
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    frac = min((progress - warmup) / max(1 - warmup, 1e-9), 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * frac))


# ----------------------------------------------------------------------------- checkpoints
def latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    return path if (path / "trainer_state.pt").is_file() else None


def save_checkpoint(out: Path, policy: Policy, optimizer, state: dict) -> Path:
    """Write ``checkpoints/step_NNNNNN`` (the run checkpoints' naming) completely, then point ``LATEST`` at
    it (atomic rename) and drop older checkpoints. An interruption at any point leaves the previous
    complete checkpoint usable; a write that fails (a full disk) removes its partial folder and raises
    :class:`CheckpointWriteError` naming the folder, its disk and the space left."""
    root = out / "checkpoints"
    name = checkpoint_name(state["step"])
    final = root / name
    tmp = root / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_model_folder(policy, tmp)
        torch.save({"optimizer": optimizer.state_dict(), **state}, tmp / "trainer_state.pt")
    except Exception as exc:  # OSError, or a writer's own type (safetensors raises SafetensorError)
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(write_failure_message(root, state["step"], exc)) from exc
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    pointer_tmp = root / "LATEST.tmp"
    pointer_tmp.write_text(name + "\n")
    pointer_tmp.replace(root / "LATEST")
    for old in [*root.glob("step-*"), *root.glob("step_*")]:  # step-N: folders of older versions
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_model_folder(policy: Policy, folder: Path) -> None:
    """Weights (safetensors) and tokenizer; game-trained tokenizers with their id probe
    (docs/models.md, 'Tokenizer reload trap')."""
    policy.model.save_pretrained(folder, safe_serialization=True)
    if is_game_tokenizer(policy.tokenizer):
        save_tokenizer(policy.tokenizer, folder)
    else:
        policy.tokenizer.save_pretrained(folder)


# ----------------------------------------------------------------------------- the run
def run_sft(recipe: SFTRecipe, opts: RunOptions) -> dict:
    """Train (or resume) one SFT run; returns the final summary (also in ``out/model/eval.json``)."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    if opts.eval_config is not None:  # a config the evaluation cannot play is refused now, not after training
        eval_run_config(recipe.env_id, opts.eval_config.tasks, opts.eval_config.run_settings)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    _check_recipe(out, recipe, opts.resume)

    examples, summary = expert_examples(recipe.env_id, recipe.train_tasks, recipe.data_seed,
                                        recipe.history_length, opts.progress, data_cache_file(recipe),
                                        recipe.first_turn_copies, recipe.prompt_format or None,
                                        recipe.detour_rate)
    if not examples:
        raise RuntimeError(f"the expert won no non-degenerate training episode of {recipe.env_id}: no SFT data")
    policy = build_policy(recipe, examples, opts)
    builder = prompt_builder_for(recipe.env_id, recipe.history_length, recipe.prompt_format or None)
    data, dropped = tokenize_examples(examples, policy.prompt_ids, policy.tokenizer,
                                      recipe.max_prompt_tokens, recipe.max_response_tokens,
                                      builder.observation_role if builder.append_only else None)
    if not data:
        raise RuntimeError("every SFT example is longer than max_prompt_tokens/max_response_tokens")
    _write_json(out / "data_summary.json", {**summary.__dict__, "kept": len(data), "dropped_too_long": dropped,
                                            "response_tokens": sum(len(e.response_ids) for e in data),
                                            "tokens": sum(e.length for e in data),
                                            "parameters": count_parameters(policy.model)})

    model, device = policy.model, policy.device
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=recipe.betas,
                                  weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(data) / recipe.batch_size)
    total_steps = max(1, math.ceil(recipe.epochs * steps_per_epoch))
    state = {"step": 0, "elapsed_s": 0.0, "tokens": 0}
    if opts.resume and (latest := latest_checkpoint(out)) is not None:
        saved = torch.load(latest / "trainer_state.pt", weights_only=True)  # no code runs on load
        optimizer.load_state_dict(saved.pop("optimizer"))
        state.update(saved)
        _truncate_metrics(out / "metrics.jsonl", state["step"])
        print(f"resuming from {latest} (step {state['step']})")
    budget_s = opts.minutes * 60 if opts.minutes is not None else None

    bar = tqdm(total=total_steps, initial=state["step"], desc="sft", unit="step", disable=not opts.progress)
    start = time.monotonic() - state["elapsed_s"]
    last_ckpt = time.monotonic()
    epoch_batches: dict[int, list[list[int]]] = {}
    metrics = open(out / "metrics.jsonl", "a")
    while state["step"] < total_steps:
        elapsed = time.monotonic() - start
        if budget_s is not None and elapsed >= budget_s:
            break
        epoch, index = divmod(state["step"], steps_per_epoch)
        if epoch not in epoch_batches:
            epoch_batches = {epoch: make_batches(data, recipe.batch_size, recipe.shuffle_seed + epoch)}
        batch = [data[j] for j in epoch_batches[epoch][index]]
        progress = state["step"] / total_steps
        if budget_s is not None:
            progress = max(progress, elapsed / budget_s)
        lr = recipe.lr * lr_factor(progress, recipe.warmup_fraction, recipe.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        ids, attn, target = (t.to(device) for t in collate(batch, policy.tokenizer.pad_token_id))
        loss = response_loss(model, ids, attn, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
        optimizer.step()
        state["step"] += 1
        state["tokens"] += int(attn.sum())
        state["elapsed_s"] = time.monotonic() - start
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}")
        if state["step"] % opts.log_every == 0 or state["step"] in (1, total_steps):
            metrics.write(json.dumps({"step": state["step"], "epoch": state["step"] / steps_per_epoch,
                                      "loss": loss.item(), "lr": lr, "tokens": state["tokens"],
                                      "elapsed_s": round(state["elapsed_s"], 2)}) + "\n")
            metrics.flush()
        if time.monotonic() - last_ckpt >= opts.checkpoint_minutes * 60:
            save_checkpoint(out, policy, optimizer, state)
            last_ckpt = time.monotonic()
    bar.close()
    metrics.close()
    save_checkpoint(out, policy, optimizer, state)
    plot_loss(out / "metrics.jsonl", out / "loss.png")

    final = out / "model"
    tmp = out / ".model.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.eval()
    save_model_folder(policy, tmp)
    recipe.save(tmp / "recipe.json")
    train_summary = {"steps": state["step"], "epochs": state["step"] / steps_per_epoch,
                     "train_wall_s": round(state["elapsed_s"], 1), "tokens": state["tokens"],
                     "tokens_per_s": round(state["tokens"] / max(state["elapsed_s"], 1e-9), 1),
                     "threads": torch.get_num_threads(), "parameters": count_parameters(model)}
    result = {"training": train_summary, "data": json.loads((out / "data_summary.json").read_text())}
    if opts.eval_config is not None:
        result["evaluation"] = evaluate_policy(policy, recipe.env_id, opts.eval_config, progress=opts.progress)
    _write_json(tmp / "eval.json", result)
    write_checksum(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return result


def _check_recipe(out: Path, recipe: SFTRecipe, resume: bool) -> None:
    path = out / "recipe.json"
    if resume and path.is_file():
        saved = SFTRecipe.load(path)
        if saved != recipe:
            raise ValueError(f"--resume with another recipe than {path} was started with; use a new --out")
    elif not resume and (out / "checkpoints" / "LATEST").is_file():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    recipe.save(path)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint a resumed run restarts from."""
    if path.is_file():
        rows = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        path.write_text("".join(r + "\n" for r in rows))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def plot_loss(metrics_file: Path, png: Path) -> None:
    """Plot loss against step from ``metrics.jsonl`` (headless matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows])
    ax.set_xlabel("step")
    ax.set_ylabel("response-token loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
