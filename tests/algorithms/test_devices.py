"""CPU vs CUDA: every function gives the same result to 1e-5. Skips when CUDA is absent."""

import pytest
import torch

from spear_train.algorithms import (
    clip_cov_loss,
    discounted_returns,
    entropy_from_logits,
    gigpo_advantage,
    grpo_advantage,
    kl_cov_loss,
    low_var_kl,
    low_variance_group_filter,
    ppo_clip_loss,
    repetitive_flags,
)


def _run_all(device):
    g = torch.Generator().manual_seed(0)
    b, l = 64, 48
    mask = (torch.rand(b, l, generator=g) < 0.8).float().to(device)
    lp = (-torch.rand(b, l, generator=g) * 4).to(device)
    old = lp + (torch.rand(b, l, generator=g).to(device) - 0.5) * 0.4
    groups = torch.arange(8).repeat_interleave(8).to(device)
    traj = torch.arange(32).repeat_interleave(2).to(device)
    scores = (torch.rand(b, generator=g) * 10).round().to(device)
    anchors = torch.randint(0, 4, (b,), generator=g).to(device)
    adv = grpo_advantage(scores, groups)
    returns = discounted_returns(scores, traj, 0.95)
    tok_adv = adv.unsqueeze(-1) * mask
    ids = torch.randint(0, 3, (b, l), generator=g).to(device)
    logits = torch.randn(b, l, 11, generator=g).to(device)
    return {
        "grpo": adv,
        "gigpo": gigpo_advantage(scores, returns, groups, anchors),
        "returns": returns,
        "ppo": ppo_clip_loss(lp, old, tok_adv, mask, 0.2, 0.28, 10.0, "seq-mean-token-sum-norm").loss,
        "clip_cov": clip_cov_loss(lp, old, tok_adv, mask, clip_cov_ratio=0.05, clip_cov_lb=0.0, clip_cov_ub=5.0,
                                  generator=torch.Generator().manual_seed(1)).token_loss,
        "kl_cov": kl_cov_loss(lp, old, tok_adv, mask, kl_cov_ratio=0.05).loss,
        "entropy": entropy_from_logits(logits),
        "kl": low_var_kl(lp, old),
        "filter": low_variance_group_filter(scores, groups, 0.5, traj, generator=torch.Generator().manual_seed(2)),
        "repetitive": repetitive_flags(ids, mask, ngram=2, threshold=30),
    }


def test_device_run_is_deterministic_on_cpu():
    """Guards the comparison below: the same run twice on the CPU is bitwise equal."""
    first, second = _run_all("cpu"), _run_all("cpu")
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cpu_and_cuda_agree():
    cpu, cuda = _run_all("cpu"), _run_all("cuda")
    for name in cpu:
        torch.testing.assert_close(cuda[name].cpu(), cpu[name], atol=1e-5, rtol=1e-5, msg=name)
