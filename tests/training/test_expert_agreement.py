"""benchmarks/expert_agreement.py on a tiny budget: on the expert's path the env gets the expert's actions
(the episodes are the expert's), on the policy's path the policy's; each row scores every turn played."""

from __future__ import annotations

import re

import pytest

from tests.benchmark_scripts import load_benchmark


def test_expert_and_policy_paths(capsys):
    script = load_benchmark("expert_agreement")
    args = script.parse_args(["--games", "2", "--policy", "window=spear-tiny-alfworld"])
    turns, won, _ = script.agreement("window", "spear-tiny-alfworld", args)
    assert won == 1.0  # the handcoded expert wins held-out games 0 and 1: the env got its actions
    assert [k for k, _ in turns if k == 0] == [0, 0]  # one first turn per game, every turn scored
    assert 0 < sum(ok for _, ok in turns) <= len(turns)
    args.follow = "policy"
    own, _, _ = script.agreement("window", "spear-tiny-alfworld", args)
    assert own[:1] == turns[:1]  # the first turn's state is the same on both paths
    assert len(own) != len(turns), "the policy's episodes should differ from the expert's (else vacuous)"
    script.main(["--games", "1", "--policy", "window=spear-tiny-alfworld"])
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.match(r"\| spear-tiny-alfworld \| window \| [\d.]+% of \d+ \|", row)


def test_bad_policy_argument_is_refused(capsys):
    with pytest.raises(SystemExit):
        load_benchmark("expert_agreement").parse_args(["--policy", "spear-tiny-alfworld"])
    assert "window=MODEL or chat=MODEL" in capsys.readouterr().err
