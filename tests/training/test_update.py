"""``optimise`` and ``recompute_logprobs`` on a tiny random model, read through parameter changes under
plain SGD (AdamW would hide the loss scale): micro-batching, ``loss_weight``, gradient clipping, the
per-sample advantage mask, mini-batch steps, and pi_old (ratio 1 on the first mini-batch)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from spear_train.training.logprobs import response_logprobs
from spear_train.training.update import LossSettings, TrainBatch, micro_batch_loss, optimise, recompute_logprobs

PAD = 0
NO_CLIP = 1e9


def _model(seed: int = 0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, intermediate_size=32, max_position_embeddings=64)
    return Qwen2ForCausalLM(cfg).eval()


def _batch(lengths=(3, 3, 3, 3), advantages=(1.0, -0.5, 2.0, -1.5), prompts=None) -> TrainBatch:
    """Four samples; prompts 0 and 2 are equal (``by_prompt`` moves sample 2 next to sample 0)."""
    prompts = prompts or [[1, 2, 3], [4, 5], [1, 2, 3], [6, 7, 8, 9]]
    responses = [[10 + 3 * i + k for k in range(n)] for i, n in enumerate(lengths)]
    return TrainBatch.from_lists(prompt_ids=prompts, response_ids=responses, loss_mask=[[1] * n for n in lengths],
                                 old_logprobs=[[0.0] * n for n in lengths], advantages=list(advantages),
                                 keep=[True] * len(lengths))


def _with_old_logprobs(model, batch: TrainBatch) -> TrainBatch:
    return dataclasses.replace(batch, old_log_probs=recompute_logprobs(model, batch, PAD, micro_batch_size=4))


class RecordingSGD(torch.optim.SGD):
    """Plain SGD that records the global gradient norm it stepped with."""

    def __init__(self, params, lr=1.0):
        super().__init__(params, lr=lr)
        self.norms: list[float] = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads]))))
        return super().step(closure)


def _delta(batch: TrainBatch, settings=LossSettings(), *, mini: int = 4, micro: int = 4, clip: float = NO_CLIP,
           weight: float = 1.0, lr: float = 1.0):
    """(parameter change of one :func:`optimise` call under SGD, stats, optimiser)."""
    model = _model()
    batch = _with_old_logprobs(model, batch)
    before = [p.detach().clone() for p in model.parameters()]
    opt = RecordingSGD(model.parameters(), lr=lr)
    stats = optimise(model, opt, batch, settings, pad_id=PAD, mini_batch_size=mini, micro_batch_size=micro,
                     grad_clip=clip, loss_weight=weight)
    return torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]), stats, opt


def _reference_grad(batch: TrainBatch, settings=LossSettings()) -> torch.Tensor:
    """Gradient of the whole batch's loss in one forward (one micro-batch), by hand."""
    model = _model()
    batch = _with_old_logprobs(model, batch)
    model.train()
    total, *_ = micro_batch_loss(model, batch, settings, PAD)
    total.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-6)  # deltas of O(1) float32 weights


def test_micro_batch_sizes_1_2_4_give_the_same_step():
    """Equal response lengths, token-mean: the micro-batch losses / n_micro add up to the full loss."""
    batch = _batch()
    reference = -_reference_grad(batch)  # SGD with lr 1 moves by -grad
    assert reference.abs().max() > 1e-4  # the batch has a real gradient
    for micro in (1, 2, 4):
        delta, stats, _ = _delta(batch, micro=micro)
        assert _close(delta, reference), f"micro_batch_size={micro}"
        assert stats.optimizer_steps == 1 and len(stats.loss) == 4 // micro


def test_micro_batches_match_for_a_per_sequence_mean_with_varied_lengths():
    settings = LossSettings(loss_agg_mode="seq-mean-token-mean")
    batch = _batch(lengths=(2, 5, 3, 4))
    reference = -_reference_grad(batch, settings)
    for micro in (1, 2):
        delta, _, _ = _delta(batch, settings, micro=micro)
        assert _close(delta, reference), f"micro_batch_size={micro}"


def test_token_sum_norm_scales_with_the_micro_batch_size_as_documented():
    """``seq-mean-token-sum-norm`` is a sum over a micro-batch's sequences divided by n_micro, i.e.
    ``(micro/mini) x`` the whole mini-batch's sum: the reference's rule, kept on purpose."""
    settings = LossSettings(loss_agg_mode="seq-mean-token-sum-norm", norm_length=8)
    batch = _batch(lengths=(2, 5, 3, 4))
    reference = -_reference_grad(batch, settings)
    for micro in (1, 2, 4):
        delta, _, _ = _delta(batch, settings, micro=micro)
        assert _close(delta, reference * micro / 4), f"micro_batch_size={micro}"


def test_gradients_scale_linearly_with_loss_weight_and_weight_0_changes_nothing():
    batch = _batch()
    full, _, _ = _delta(batch, weight=1.0, micro=2)
    for w in (0.25, 3.0):
        scaled, _, _ = _delta(batch, weight=w, micro=2)
        assert _close(scaled, w * full), f"loss_weight={w}"
    zero, stats, _ = _delta(batch, weight=0.0, micro=2)
    assert torch.count_nonzero(zero) == 0 and stats.optimizer_steps == 1


def test_the_step_is_clipped_to_grad_clip():
    batch = _batch()
    free, stats, opt = _delta(batch)
    assert opt.norms[0] == pytest.approx(stats.grad_norm[0], rel=1e-5)  # reported norm = pre-clip norm
    clip = opt.norms[0] / 10
    clipped, stats, opt = _delta(batch, clip=clip)
    assert opt.norms[0] <= clip * (1 + 1e-5)
    assert stats.grad_norm[0] == pytest.approx(10 * clip, rel=1e-5)
    assert _close(clipped, free / 10)  # clipping rescales, it does not change the direction


def test_unkept_samples_lose_their_policy_gradient_term():
    kept = _batch(advantages=(1.0, 0.0, 2.0, -1.5))
    masked = dataclasses.replace(_batch(advantages=(1.0, 7.0, 2.0, -1.5)), keep=torch.tensor([True, False, True, True]))
    a, _, _ = _delta(kept)
    b, _, _ = _delta(masked)
    assert _close(a, b)


def test_one_optimiser_step_per_mini_batch():
    batch = _batch()
    for mini, steps in ((4, 1), (2, 2), (1, 4)):
        _, stats, opt = _delta(batch, mini=mini, micro=1)
        assert stats.optimizer_steps == steps == len(opt.norms) == len(stats.grad_norm)


def test_two_mini_batches_are_two_sequential_sgd_steps():
    """Mini-batch 2 over 4 samples: a step on samples {0, 1}, then a step on {2, 3} from the new weights
    (each mini-batch starts from zero gradients)."""
    batch = _batch(prompts=[[1, 2, 3], [4, 5], [6, 7], [8, 9, 1]])
    model = _model()
    batch = _with_old_logprobs(model, batch)
    start = [p.detach().clone() for p in model.parameters()]
    optimise(model, torch.optim.SGD(model.parameters(), lr=0.5), batch, LossSettings(), pad_id=PAD,
             mini_batch_size=2, micro_batch_size=1, grad_clip=NO_CLIP)
    ref = _model()
    for part in ([0, 1], [2, 3]):
        ref.zero_grad()
        ref.train()
        total, *_ = micro_batch_loss(ref, batch.select(part), LossSettings(), PAD)
        total.backward()
        with torch.no_grad():
            for p in ref.parameters():
                p -= 0.5 * p.grad
    assert not all(torch.equal(p, s) for p, s in zip(model.parameters(), start))
    for p, r in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(p, r, rtol=1e-4, atol=1e-6)


def test_old_logprobs_are_each_samples_own_and_give_ratio_1_on_the_first_mini_batch():
    model = _model()
    batch = _batch(lengths=(2, 4, 3, 1))
    old = recompute_logprobs(model, batch, PAD, micro_batch_size=2)
    with torch.no_grad():
        for i in range(len(batch)):
            logp, _ = response_logprobs(model, [batch.rows("prompt_ids")[i]], [batch.rows("response_ids")[i]], PAD,
                                        with_entropy=False)
            n = int(batch.response_len[i])
            assert old.shape[1] == 4 and torch.all(old[i, n:] == 0)
            assert torch.allclose(old[i, :n], logp[0].float(), atol=1e-5), f"sample {i}"
    batch.old_log_probs = old
    stats = optimise(model, torch.optim.SGD(model.parameters(), lr=1.0), batch, LossSettings(), pad_id=PAD,
                     mini_batch_size=2, micro_batch_size=1, grad_clip=NO_CLIP)
    assert abs(stats.approx_kl[0]) < 1e-6 and abs(stats.approx_kl[1]) < 1e-6  # first mini-batch: pi = pi_old
    assert stats.clipfrac[0] == 0 and stats.clipfrac[1] == 0
    assert stats.optimizer_steps == 2 and abs(stats.approx_kl[2]) > 1e-6  # after a step of lr 1 it moved


@pytest.mark.parametrize("clip_high, clipped", [(0.2, 1.0), (0.28, 0.0)])
def test_clip_higher_reaches_the_loss(clip_high, clipped):
    """Ratio 1.25 on every token with A > 0: clipped under the symmetric 0.2, not under clip-higher 0.28
    (Dr.BoT); the loss is -A·1.2 or -A·1.25 per token."""
    model = _model()
    batch = _with_old_logprobs(model, _batch(advantages=(1.0, 0.5, 2.0, 1.5)))
    shifted = dataclasses.replace(batch, old_log_probs=batch.old_log_probs - torch.log(torch.tensor(1.25)))
    settings = LossSettings(clip_low=0.2, clip_high=clip_high, dual_clip_c=None)
    with torch.no_grad():
        total, out, _, tokens = micro_batch_loss(model, shifted, settings, PAD)
    assert tokens == 12 and float(out.clipfrac) == pytest.approx(clipped)
    ratio = 1.2 if clipped else 1.25
    assert float(total) == pytest.approx(-ratio * (1.0 + 0.5 + 2.0 + 1.5) * 3 / 12, rel=1e-4)  # token-mean, 3 tokens each
