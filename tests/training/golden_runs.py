"""Golden metrics of short deterministic CPU runs (the tiny policy of conftest.py, toy envs): every
metrics row but its timings, and a checksum of the final weights, for several presets. A refactor of the
training loop must reproduce them exactly (tests/training/test_loop_golden.py).

Record (only when the loop's numbers are meant to change, and say why in the commit)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python -m tests.training.golden_runs --record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

GOLDEN = Path(__file__).with_name("data") / "loop_golden.json"
TIMING_KEYS = ("time_rollout", "time_update", "time_step", "tokens_per_s")


def cases() -> dict[str, dict]:
    """Name -> run config values (over :func:`tests.training.test_loop.tiny_run`): every advantage
    estimator, both loss modes of the replay pass, the math reward, the turn subset and ppo_epochs; each
    SPEAR case has a buffer of size 1, so it drains from step 2 on."""
    from tests.rollout.toy import CHAT_ID, GUESS_ID
    from tests.training.toy_train import COIN_ID

    return {
        "grpo-letter": dict(env=COIN_ID, task_family="alfworld", algo="grpo", group_size=4, ppo_epochs=2),
        "gigpo+spear-guess": dict(env=GUESS_ID, task_family="alfworld", algo="gigpo+spear", group_size=3,
                                  max_turns=3),
        "drbot+spear-letter": dict(env=COIN_ID, task_family="alfworld", algo="drbot+spear", group_size=4,
                                   groups_per_step=4, algorithm=dict(filter_overlong=False, filter_void_turn=False)),
        "grpo+spear-math": dict(env=CHAT_ID, task_family="math", algo="grpo+spear", group_size=4, groups_per_step=4,
                                max_response_tokens=16),
        "drbot-gigpo-guess-turns": dict(env=GUESS_ID, task_family="alfworld", algo="drbot-gigpo", group_size=3,
                                        groups_per_step=4, max_turns=3, train_turns_per_episode=1,
                                        micro_batch_size=2, algorithm=dict(filter_overlong=False)),
    }


def weights_checksum(folder: Path) -> str:
    """sha256 over the final checkpoint's tensors (name, dtype, shape and bytes, in name order)."""
    from safetensors.torch import load_file

    h = hashlib.sha256()
    tensors = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(f)))
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def run_case(policy_dir: Path, out: Path, values: dict) -> dict:
    """The metrics rows (timings removed) and the final weights' checksum of one 3-step run."""
    from spear_train.training.loop import run_seeds
    from spear_train.training.run_config import resolve_run_config
    from tests.training.test_loop import tiny_run

    extra = dict(values)
    env, family, algo = extra.pop("env"), extra.pop("task_family"), extra.pop("algo")
    algorithm = extra.pop("algorithm", {})
    config = tiny_run(policy_dir, out, env, family, algo, steps=3, eval_every=3, checkpoint_every=3, **extra)
    config["algorithm"] = {**config["algorithm"], **algorithm}
    (summary,) = run_seeds(resolve_run_config(config))
    run = Path(summary["run_dir"])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]
    return {"rows": rows, "weights": weights_checksum(run / "checkpoints" / "step_000003" / "policy")}


def environment() -> dict:
    """What must match for the golden numbers to be comparable bit for bit."""
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine()}


def build_policy(folder: Path) -> Path:
    """The tiny policy of tests/training/conftest.py."""
    from spear_train.models.tiny_model import build_tiny_model
    from spear_train.models.tokenizer import save_tokenizer, train_tokenizer
    from tests.training.conftest import TINY_SHAPE, TOY_TEXTS

    tokenizer = train_tokenizer(TOY_TEXTS, vocab_size=300)
    build_tiny_model(tokenizer, TINY_SHAPE, seed=0).save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder


def golden_results(policy_dir: Path, out: Path) -> dict:
    return {name: run_case(policy_dir, out / name, values) for name, values in cases().items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help=f"write {GOLDEN}")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        policy = build_policy(Path(tmp) / "policy")
        got = {"environment": environment(), "runs": golden_results(policy, Path(tmp) / "runs")}
    if args.record:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN}")
        return 0
    want = json.loads(GOLDEN.read_text())
    same = got["runs"] == want["runs"]
    print("golden: " + ("identical" if same else "DIFFERENT"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
