"""Hand-made rollouts for ``Trainer.train_step`` tests, and the reference numbers they should produce.

The trainer's rollout runner is replaced by :class:`FixedRollouts`, so a step trains on known samples. The
expected scores and advantages are recomputed here in plain Python (``statistics``), independently of
the torch functions under test (docs/algorithms.md has the formulas).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from spear_train.rollout.samples import Episode, Rollout, Sample

EPS = 1e-6
PENALTY = 0.1


@dataclass(frozen=True)
class Turn:
    anchor: str  # the observation the step was taken from (GiGPO's state key)
    valid: bool = True  # format-valid action (False costs the 0.1 penalty)
    void: bool = False  # no <action> block: flagged when the void-turn filter is on


@dataclass(frozen=True)
class Traj:
    group: str
    traj: str
    episode_return: float
    turns: tuple[Turn, ...]


#: Two groups; "room" is an anchor shared across groups (GiGPO must pair it with the group), an invalid
#: step in each group, one void (flagged) step in the best trajectory, lengths 2-4 (tool bonus 0.1 L).
#: d and e differ only in d's invalid second step, so the penalty moves d's return within the
#: three-member step group (g1, "locked") and GiGPO's step part sees it.
AGENT_TRAJS = (
    Traj("g0", "a", 10.0, (Turn("room"), Turn("key", void=True), Turn("door"), Turn("out"))),
    Traj("g0", "b", 4.0, (Turn("room"), Turn("key", valid=False))),
    Traj("g1", "c", 3.0, (Turn("room"), Turn("locked"))),
    Traj("g1", "d", 0.0, (Turn("room"), Turn("locked", valid=False), Turn("hall"))),
    Traj("g1", "e", 0.0, (Turn("room"), Turn("locked"), Turn("hall"))),
)


def _ids(text: str) -> list[int]:
    return [5 + ord(ch) % 200 for ch in text]


def agent_rollout(step: int, trajs=AGENT_TRAJS) -> Rollout:
    """One sample per turn; response ids are unique within and across steps (the first id names the
    sample: ``first_id(step, k)`` for the k-th sample), lengths 1-6; the episode return is the reward
    of the last turn."""
    samples, episodes, k = [], [], 0
    for tr in trajs:
        n = len(tr.turns)
        for i, turn in enumerate(tr.turns):
            text = "<think>hmm</think>" if turn.void else "<action>open door</action>"
            response = [first_id(step, k)] + [7 + (k + j) % 50 for j in range(k % 6)]
            samples.append(Sample(
                group_id=f"{tr.group}-t{step}", traj_id=f"{tr.traj}-t{step}", step=i,
                prompt_ids=_ids(f"{tr.group} {turn.anchor}"), response_ids=response,
                logprobs=[0.0] * len(response), loss_mask=[1] * len(response),
                reward=tr.episode_return if i == n - 1 else 0.0, action="open door", action_valid=turn.valid,
                action_admissible=True, anchor_obs=turn.anchor, response_text=text, response_text_raw=text,
                truncated=False, num_tool_calls=1, done=i == n - 1, episode_return=tr.episode_return,
                episode_length=n, won=tr.episode_return > 0))
            k += 1
        episodes.append(Episode(group_id=f"{tr.group}-t{step}", traj_id=f"{tr.traj}-t{step}", env_id="test",
                                seed=step, length=n, episode_return=tr.episode_return,
                                won=tr.episode_return > 0))
    return Rollout(samples=samples, episodes=episodes, generated_tokens=sum(len(s.response_ids) for s in samples))


def first_id(step: int, k: int) -> int:
    return 60 + 16 * step + k


class FixedRollouts:
    """Stands in for :class:`~spear_train.training.rollout_runner.RolloutRunner`: step t gets ``by_step[t]``."""

    def __init__(self, by_step: dict[int, Rollout]):
        self.by_step, self.steps = by_step, []

    def collect(self, t: int, seed: int) -> Rollout:
        self.steps.append(t)
        return self.by_step[t]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- reference numbers, per sample in order
def kappa(t: int, total: int) -> float:
    """Cosine tool-bonus decay ``(1 + cos(pi t / T)) / 2`` for t <= T."""
    return (1 + math.cos(math.pi * t / total)) / 2


def replay_weight(t: int, total: int) -> float:
    """Replay-loss warm-up ``c(t) = (1 - cos(pi t / T)) / 2`` for t <= T (coef 1)."""
    return (1 - math.cos(math.pi * t / total)) / 2


def flat(trajs=AGENT_TRAJS) -> list[tuple[Traj, int, Turn]]:
    return [(tr, i, turn) for tr in trajs for i, turn in enumerate(tr.turns)]


def agent_scores(k: float, trajs=AGENT_TRAJS) -> list[float]:
    """``s = R + min(1, 0.1 L) kappa - 0.1 (1 - valid)``."""
    return [tr.episode_return + min(1.0, 0.1 * len(tr.turns)) * k - PENALTY * (not turn.valid)
            for tr, _, turn in flat(trajs)]


def _centre(values: list[float], keys: list, norm: bool, singleton_zero: bool) -> list[float]:
    out = []
    for v, key in zip(values, keys):
        members = [x for x, kk in zip(values, keys) if kk == key]
        if len(members) == 1:
            out.append(0.0 if singleton_zero else v / (1 + EPS if norm else 1))
            continue
        mu = statistics.fmean(members)
        out.append((v - mu) / (statistics.stdev(members) + EPS) if norm else v - mu)
    return out


def grpo_reference(scores: list[float], norm: bool, trajs=AGENT_TRAJS) -> list[float]:
    """Step-weighted group advantage ``(s - mean_g) / (std_g + 1e-6)`` (or ``s - mean_g``)."""
    return _centre(scores, [tr.group for tr, _, _ in flat(trajs)], norm, singleton_zero=False)


def gigpo_reference(scores: list[float], gamma: float, weight: float, trajs=AGENT_TRAJS) -> list[float]:
    """``A^E + w A^S``: A^E the normalised GRPO advantage; A^S the normalised discounted return
    ``G_k = sum_j>=k gamma^(j-k) r_j`` (penalised like the scores) within (group, anchor) step groups."""
    returns = []
    for tr, i, turn in flat(trajs):
        n = len(tr.turns)
        returns.append(gamma ** (n - 1 - i) * tr.episode_return - PENALTY * (not turn.valid))
    step = _centre(returns, [(tr.group, turn.anchor) for tr, _, turn in flat(trajs)], True, singleton_zero=True)
    return [e + weight * s for e, s in zip(grpo_reference(scores, True, trajs), step)]


def flagged(trajs=AGENT_TRAJS) -> list[bool]:
    return [turn.void for _, _, turn in flat(trajs)]


def group_stats(scores: list[float], trajs=AGENT_TRAJS) -> tuple[float, float]:
    """(median of group means, median of group stds) over trajectory mean scores (population std):
    the P50 baseline a step leaves in the history."""
    rows = flat(trajs)
    means, stds = [], []
    for group in dict.fromkeys(tr.group for tr in trajs):
        per_traj = [statistics.fmean([s for s, (tr, _, _) in zip(scores, rows) if tr is t])
                    for t in trajs if t.group == group]
        means.append(statistics.fmean(per_traj))
        stds.append(statistics.pstdev(per_traj))
    return statistics.median(means), statistics.median(stds)


@dataclass(frozen=True)
class Answer:
    """One math episode (one sample): solved or not, tool calls made, and a final ``\\boxed{}`` or not."""

    group: str
    won: bool
    tool_calls: int
    boxed: bool = True


#: Two problems x four answers; in m0 a correct answer without a tool call (A > 0, but the math buffer
#: admits only answers with a tool call) and a correct one without \boxed{} (void: flagged).
MATH_ANSWERS = (
    Answer("m0", True, 2), Answer("m0", True, 0), Answer("m0", False, 1), Answer("m0", True, 3, boxed=False),
    Answer("m1", False, 0), Answer("m1", True, 1), Answer("m1", False, 4), Answer("m1", False, 2),
)


def math_rollout(step: int, answers=MATH_ANSWERS) -> Rollout:
    """One sample per episode: the response interleaves model turns (loss mask 1) and tool replies (0)."""
    samples, episodes = [], []
    for k, ans in enumerate(answers):
        text = ("the answer is \\boxed{42}" if ans.won else "the answer is \\boxed{12}") if ans.boxed else "hmm"
        response = [first_id(step, k), 9, 10, 11, 12][: 2 + k % 4]
        mask = [1] + [0 if j % 2 else 1 for j in range(1, len(response))]
        samples.append(Sample(
            group_id=f"{ans.group}-t{step}", traj_id=f"{ans.group}-{k}-t{step}", step=0,
            prompt_ids=_ids(f"problem {ans.group}"), response_ids=response, logprobs=[0.0] * len(response),
            loss_mask=mask, reward=float(ans.won), action=text, action_valid=True, action_admissible=True,
            anchor_obs=ans.group, response_text=text, response_text_raw=text, truncated=False,
            num_tool_calls=ans.tool_calls, done=True, episode_return=float(ans.won), episode_length=1,
            won=ans.won))
        episodes.append(Episode(group_id=f"{ans.group}-t{step}", traj_id=f"{ans.group}-{k}-t{step}", env_id="test",
                                seed=step, length=1, episode_return=float(ans.won), won=ans.won))
    return Rollout(samples=samples, episodes=episodes, generated_tokens=sum(len(s.response_ids) for s in samples))


def math_scores(k: float, answers=MATH_ANSWERS) -> list[float]:
    """qwen2.5 variant: ``+-1 + min(0.1 n_tc, 1) kappa``."""
    return [(1.0 if a.won else -1.0) + min(0.1 * a.tool_calls, 1.0) * k for a in answers]


def math_grpo_reference(scores: list[float], answers=MATH_ANSWERS) -> list[float]:
    return _centre(scores, [a.group for a in answers], True, singleton_zero=False)
