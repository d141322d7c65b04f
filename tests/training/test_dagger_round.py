"""benchmarks/dagger_round.py's data on a tiny budget: the policy's own states (its turns, its history
window), each labelled with the expert's action for that state, cached for a second call."""

from __future__ import annotations

import json

from tests.benchmark_scripts import load_benchmark


def test_policy_states_get_expert_labels(tmp_path):
    script = load_benchmark("dagger_round")
    args = script.parse_args(["--games", "1", "--out", str(tmp_path)])  # one game: its turns in order
    examples = script.dagger_examples(args)
    firsts = [k for k, e in enumerate(examples) if "You are here:" in e.messages[-1]["content"]]
    assert firsts == [0]  # every turn of the episode is an example, in order
    assert len(examples) > 2 and all(e.train for e in examples)
    actions = [e.response.split("<action>")[1].split("</action>")[0] for e in examples]
    for e, action in zip(examples, actions):  # every target is one of that state's admissible commands
        assert f"'{action}'" in e.messages[-1]["content"].split("Commands you can use now:")[1]
    # the env got the policy's actions, not the expert's: some turn's history shows, as the action just
    # taken, another action than the expert's label of the turn before
    taken = [e.messages[-1]["content"].rsplit("Action ", 1)[1].split(": '", 1)[1].split("']", 1)[0]
             for e in examples if "You are here:" not in e.messages[-1]["content"]]
    labels = actions[:-1]
    assert len(taken) == len(labels) and any(t != a for t, a in zip(taken, labels))
    cached = [json.loads(line) for line in (tmp_path / "dagger_examples.jsonl").read_text().splitlines()]
    assert len(cached) == len(examples) and script.dagger_examples(args) == examples
