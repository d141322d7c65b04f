"""Every way a document can claim a result that is not the benchmark: refused with its reason, and the
leaderboard's database left unchanged (``db_dump``: tokens and submissions, byte for byte).

Documents that fail before replay are built directly in the schema (their episodes never run); those
that reach the worker are made from real envs. The slow-replay attack runs on a server with a small
replay budget, so it takes seconds.
"""

from __future__ import annotations

import threading
import time

import pytest

from spear_train.leaderboard.schema import Result, env_data_fingerprint

from .conftest import LiveServer, as_dict, db_dump, make_result, post_result, request, wait_job

ALFWORLD_LAPTOP = {"scene_size": "small", "num_games": 140, "split": "eval_in_distribution", "max_steps": 30}
MATH_LAPTOP = {"split": "eval", "difficulty": 1, "max_steps": 4, "timeout_s": 5.0}
WEBSHOP_LAPTOP = {"split": "eval", "max_steps": 10}
WRONG_ANSWER = "The answer is \\boxed{-123456789}."
SLEEP_CALL = '<tool_call>{"name": "code_interpreter", "arguments": {"code": "import time; time.sleep(100)"}}</tool_call>'


def document(env_id: str, kwargs: dict, episodes: list[dict], *, run_seeds=(0,), fingerprint=None,
             won: bool = False, reward: float = -1.0) -> dict:
    """A schema-valid result holding ``episodes`` (dicts with seed, options, steps) in every run, with
    metrics that agree with the claimed outcomes (all ``won``, each with total ``reward``)."""
    eps = [{"format": 1, "env_id": env_id, "env_kwargs": kwargs, "env_version": "1", "final_info": {"won": won},
            **ep} for ep in episodes]
    rate = 1.0 if won else 0.0
    per_seed = [{"seed": s, "episodes": len(eps), "success_rate": rate, "score": reward} for s in run_seeds]
    return {
        "schema_version": 1, "spear_bench_version": "0", "created_at": "2026-01-01T00:00:00+00:00",
        "method": "attacker", "env": {"id": env_id, "version": "1", "kwargs": kwargs,
                                      "data_fingerprint": fingerprint or {}},
        "preset": "scripted", "model": {"name": "m"}, "seeds": list(run_seeds),
        "hardware": {"platform": "p", "cpu": "c"}, "wall_time_s": 1.0,
        "metrics": {"per_seed": per_seed, "success_mean": rate,
                    "success_stderr": None if len(run_seeds) == 1 else 0.0, "score_mean": reward,
                    "score_stderr": None if len(run_seeds) == 1 else 0.0},
        "runs": [{"seed": s, "episodes": eps} for s in run_seeds],
    }


def answer(seed: int, options: dict | None = None, action: str = WRONG_ANSWER) -> dict:
    return {"seed": seed, "options": options or {},
            "steps": [{"action": action, "reward": -1.0, "terminated": True, "truncated": False}]}


def math_options(seed: int) -> dict:
    """The laptop math track's canonical reset options: the ``seed``-th distinct level-1 eval problem."""
    from spear_envs.math_tool.task_list import distinct_problem_index

    return {"index": distinct_problem_index(seed, "eval", 1)}


def math_answer(seed: int) -> dict:
    return answer(seed, math_options(seed))


def _refused(server, data: dict, status: int, reason: str, fragment: str = "") -> dict:
    before = db_dump(server.db_path)
    got, body = post_result(server, data)
    assert (got, body["reason"]) == (status, reason), body
    assert fragment in body["error"] + " ".join(body["details"]), body
    assert db_dump(server.db_path) == before
    return body


# ------------------------------------------------------------------ cherry-picking
def test_one_won_episode_is_too_few(server):
    won = {"seed": 0, "options": {"game_index": 0},
           "steps": [{"action": "look", "reward": 10.0, "terminated": True, "truncated": False}]}
    data = document("spear/ALFWorld-v0", ALFWORLD_LAPTOP, [won], won=True, reward=10.0)
    _refused(server, data, 422, "too_few_episodes", "at least 100")


def test_one_won_episode_fifty_times_is_not_the_task_list(server):
    won = {"seed": 0, "options": {"game_index": 0},
           "steps": [{"action": "look", "reward": 10.0, "terminated": True, "truncated": False}]}
    data = document("spear/ALFWorld-v0", ALFWORLD_LAPTOP, [won] * 50, won=True, reward=10.0)
    _refused(server, data, 422, "task_list_mismatch", "repeated: [0]")


def test_a_chosen_task_three_times_is_not_the_task_list(server):
    episodes = [math_answer(s) for s in range(97)] + [math_answer(7), math_answer(7), math_answer(7)]
    _refused(server, document("spear/MathTool-v0", MATH_LAPTOP, episodes), 422, "task_list_mismatch",
             "missing: [97, 98, 99]")


def test_math_version_1_documents_are_refused(server):
    """Version 1 of the math settings drew a problem per reset seed (repeats allowed) with 30 s tool calls:
    its kwargs are no setting's now, and the seeded draw is not the task list's choice."""
    fingerprint = env_data_fingerprint("spear/MathTool-v0", MATH_LAPTOP)
    version_1 = {k: v for k, v in MATH_LAPTOP.items() if k != "timeout_s"}
    _refused(server, document("spear/MathTool-v0", version_1, [math_answer(s) for s in range(100)]), 422,
             "env_kwargs_not_allowed", "laptop-2")
    seeded = [answer(s) for s in range(100)]  # options {}: the env draws a problem from the seed
    _refused(server, document("spear/MathTool-v0", MATH_LAPTOP, seeded, fingerprint=fingerprint), 422,
             "noncanonical_options", "reset seed 0: options {}")


def test_a_chosen_task_index_through_reset_options_is_refused(server):
    fingerprint = env_data_fingerprint("spear/WebShop-v0", WEBSHOP_LAPTOP)
    episodes = [answer(s, {"goal_index": 42}) for s in range(100)]  # one easy goal, played 100 times
    _refused(server, document("spear/WebShop-v0", WEBSHOP_LAPTOP, episodes, fingerprint=fingerprint),
             422, "noncanonical_options", "options {'goal_index': 42}")


# ------------------------------------------------------------------ training splits
@pytest.mark.parametrize("env_id, kwargs", [
    ("spear/MathTool-v0", {**MATH_LAPTOP, "split": "train"}),
    ("spear/ALFWorld-v0", {**ALFWORLD_LAPTOP, "split": "train"}),
    ("spear/MathTool-v0", {"split": "train", "max_steps": 8}),
])
def test_training_split_is_refused(server, env_id, kwargs):
    _refused(server, document(env_id, kwargs, [answer(s) for s in range(100)]), 422, "training_split",
             "split='train'")


def test_test_split_document_playing_training_goals_through_options_is_refused(server):
    kwargs = {"split": "test", "max_steps": 15}
    fingerprint = env_data_fingerprint("spear/WebShop-v0", kwargs)
    import gymnasium as gym

    from spear_train.leaderboard.settings import canonical_options, get_setting

    env = gym.make("spear/WebShop-v0", **kwargs)
    setting = get_setting("spear/WebShop-v0", "paper")
    episodes = [answer(s, {**canonical_options(setting, env, s), "split": "train"}) for s in range(100)]
    env.close()
    _refused(server, document("spear/WebShop-v0", kwargs, episodes, fingerprint=fingerprint), 422,
             "noncanonical_options", "'split': 'train'")


# ------------------------------------------------------------------ unfinished episodes
def test_math_episode_cut_before_its_final_answer_is_refused(server):
    episodes = [math_answer(s) for s in range(100)]
    episodes[3] = {"seed": 3, "options": math_options(3), "steps": [
        {"action": "<tool_call>{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"print(1)\"}}</tool_call>",
         "reward": 0.0, "terminated": False, "truncated": False}]}
    _refused(server, document("spear/MathTool-v0", MATH_LAPTOP, episodes), 422, "unfinished_episode",
             "reset seed 3: ends without terminated or truncated")


# ------------------------------------------------------------------ duplicate-check bypasses
def _extra_final_info_key(d):
    d["runs"][0]["episodes"][0]["final_info"]["note"] = "new"


def _relabelled_run_seeds(d):
    d["seeds"] = [s + 100 for s in d["seeds"]]
    for run in d["runs"]:
        run["seed"] += 100
    for m in d["metrics"]["per_seed"]:
        m["seed"] += 100


def _trailing_space(d):
    step = d["runs"][1]["episodes"][0]["steps"][0]
    step["action"] += " "


@pytest.mark.parametrize("edit", [_extra_final_info_key, _relabelled_run_seeds, _trailing_space])
def test_duplicate_check_sees_through_cosmetic_edits(server, toy_result, edit):
    status, first = post_result(server, as_dict(toy_result))
    assert status == 201, first
    data = as_dict(toy_result)
    edit(data)
    _refused(server, data, 409, "duplicate", f"#{first['id']}")


def test_one_run_under_two_seeds_is_refused(server):
    data = as_dict(make_result(31, seeds=(0,)))
    data["seeds"] = [0, 1]
    data["runs"].append({**data["runs"][0], "seed": 1})
    data["metrics"]["per_seed"].append({**data["metrics"]["per_seed"][0], "seed": 1})
    data["metrics"]["success_stderr"] = data["metrics"]["score_stderr"] = 0.0
    _refused(server, data, 422, "duplicate_runs", "run seeds 0 and 1")


# ------------------------------------------------------------------ limits before any replay
def test_ids_beyond_sqlite_integers_are_404(server):
    for path in ("/api/submissions/99999999999999999999", "/api/jobs/99999999999999999999",
                 "/submissions/99999999999999999999"):
        status, body, _ = request(server.url, path=path)
        assert status == 404, (path, body)


def test_per_token_rate_limits(tmp_path):
    live = LiveServer(tmp_path / "rate.sqlite", max_pending=100, max_per_window=2)
    try:
        assert post_result(live, as_dict(make_result(41)))[0] == 201
        assert post_result(live, as_dict(make_result(42)))[0] == 201
        before = db_dump(live.db_path)
        status, body = post_result(live, as_dict(make_result(43)))
        assert (status, body["reason"]) == (429, "rate_limited") and "at most 2" in body["error"]
        assert db_dump(live.db_path) == before
        other = live.db.add_token("someone else")  # the limit is per token
        assert post_result(live, as_dict(make_result(43)), other)[0] == 201
    finally:
        live.stop()


# ------------------------------------------------------------------ slow replay
def test_slow_replay_hits_the_budget_and_does_not_hold_up_other_submissions(tmp_path):
    """A MathTool document whose tools sleep 100 s, three times: the worker stops it at the budget (3 s
    of sandbox time, tools cut at 1 s), and a valid submission sent right after it is verified at once."""
    from spear_train.leaderboard.verify import ReplayBudget

    budget = ReplayBudget(max_tool_calls=50, max_sandbox_seconds=3.0, tool_timeout_s=1.0)
    live = LiveServer(tmp_path / "slow.sqlite", budget=budget, max_pending=10, max_per_window=10)
    try:
        fingerprint = env_data_fingerprint("spear/MathTool-v0", MATH_LAPTOP)
        slow = [{"seed": s, "options": math_options(s), "steps": [
            {"action": SLEEP_CALL, "reward": 0.0, "terminated": False, "truncated": False},
            {"action": WRONG_ANSWER, "reward": -1.0, "terminated": True, "truncated": False}]} for s in range(3)]
        data = document("spear/MathTool-v0", MATH_LAPTOP, slow + [math_answer(s) for s in range(3, 100)],
                        fingerprint=fingerprint)
        valid_data = as_dict(make_result(51))
        before = db_dump(live.db_path)
        start = time.monotonic()
        status, slow_job = post_result(live, data, wait=False)
        assert status == 202, slow_job
        status, valid_job = post_result(live, valid_data, wait=False)
        assert status == 202, valid_job
        queued_after = time.monotonic() - start
        valid = wait_job(live.url, valid_job)
        valid_after = time.monotonic() - start
        slow_done = wait_job(live.url, slow_job)
        assert valid["status"] == "accepted"
        assert (slow_done["status"], slow_done["reason"]) == ("rejected", "replay_budget_exceeded")
        assert "over the budget" in slow_done["error"]
        # before the queue and budget the valid submission waited 87 s; now at most the budget plus
        # start-up of the sandbox (bounded generously: the machine running the tests may be loaded)
        assert queued_after < 5.0 and valid_after < 30.0, (queued_after, valid_after)
        rows = live.db.leaderboard("spear/MathTool-v0")
        assert rows == [] and db_dump(live.db_path) != before  # only the valid one was stored
    finally:
        live.stop()
    print(f"slow-replay: both queued after {queued_after:.2f} s, valid one accepted after {valid_after:.2f} s")


def test_concurrent_submissions_during_a_replay_lose_nothing(server):
    results = [as_dict(make_result(60 + i)) for i in range(6)]
    outcomes = []

    def send(data):
        outcomes.append(post_result(server, data))

    threads = [threading.Thread(target=send, args=(d,)) for d in results + results[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    statuses = sorted(s for s, _ in outcomes)
    assert statuses == [201] * 6 + [409] * 2
    stored = {r["content_hash"] for r in server.db.leaderboard("spear-test/GuessWord-v0")}
    assert stored == {Result.model_validate(d).content_hash() for d in results}
