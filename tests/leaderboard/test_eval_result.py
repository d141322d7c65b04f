"""``spear-bench eval --out``: result documents from the rollout layer's agents, verified by replay;
and the reference rows committed under ``leaderboards/``."""

from __future__ import annotations

from pathlib import Path

import pytest

import spear_envs
from spear_train.cli.main import main
from spear_train.leaderboard.render import env_slug, submission_paths
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.verify import Rejection, verify_result

from .conftest import LiveServer, as_dict, post_result

LEADERBOARDS = Path(__file__).resolve().parents[2] / "leaderboards"
SUBMISSIONS = LEADERBOARDS / "submissions"
MAX_SUBMISSION_BYTES = 1_000_000
BENCHMARK_ENVS = {"math": "spear/MathTool-v0", "webshop": "spear/WebShop-v0", "alfworld": "spear/ALFWorld-v0"}


def _eval(tmp_path, env: str, agent: str, *extra: str, name: str = "result.json") -> tuple[int, Path]:
    out = tmp_path / name
    rc = main(["eval", "--env", env, "--agent", agent, "--scale", "paper", "--out", str(out), *extra])
    return rc, out


def _load(path: Path) -> Result:
    return Result.model_validate_json(path.read_bytes())


#: the paper track's minimum evaluation list per env (reset seeds 0..N-1)
PAPER_MIN = {"math": 60, "webshop": 100}


@pytest.fixture
def big_server(tmp_path):
    """A live server with the default body limit (a 2 x 100-episode result is a few hundred KB)."""
    live = LiveServer(tmp_path / "big.sqlite", max_pending=100, max_per_window=100)
    yield live
    live.stop()


@pytest.mark.parametrize("env", [pytest.param("math", marks=pytest.mark.slow), "webshop"])
def test_expert_and_random_results_verify_and_are_accepted(env, tmp_path, big_server, capsys):
    n = str(PAPER_MIN[env])
    assert _eval(tmp_path, env, "expert", "--episodes", n, name="expert.json")[0] == 0
    assert _eval(tmp_path, env, "random", "--episodes", n, "--seed", "0", "1", name="random.json")[0] == 0
    expert, rand = _load(tmp_path / "expert.json"), _load(tmp_path / "random.json")
    assert expert.env.id == rand.env.id == BENCHMARK_ENVS[env]
    assert expert.metrics.success_mean == 1.0 and rand.metrics.success_mean < 1.0
    assert rand.seeds == [0, 1] and rand.metrics.success_stderr is not None
    # both seeds play the same held-out tasks; only the agent's sampling differs
    assert [e.seed for e in rand.runs[0].episodes] == [e.seed for e in rand.runs[1].episodes] == list(range(int(n)))
    for result in (expert, rand):
        assert verify_result(result).metrics == result.metrics
        assert post_result(big_server, as_dict(result))[0] == 201
    assert main(["leaderboard", "verify", str(tmp_path / "expert.json")]) == 0
    assert f"verified {n} episodes on the paper track" in capsys.readouterr().out


def test_random_result_is_seeded(tmp_path):
    _eval(tmp_path, "webshop", "random", "--episodes", "2", "--seed", "5", name="a.json")
    _eval(tmp_path, "webshop", "random", "--episodes", "2", "--seed", "5", name="b.json")
    _eval(tmp_path, "webshop", "random", "--episodes", "2", "--seed", "6", name="c.json")
    a, b, c = (_load(tmp_path / n) for n in ("a.json", "b.json", "c.json"))
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_alfworld_expert_records_replay_without_the_expert_kwarg(tmp_path):
    assert _eval(tmp_path, "alfworld", "expert", "--episodes", "2")[0] == 0
    result = _load(tmp_path / "result.json")
    assert "expert" not in result.env.kwargs and result.env.kwargs["split"].startswith("eval")
    assert result.metrics.success_mean == 1.0
    for record in result.records()[0]:  # a plain env replays them (two episodes: too few for the table)
        assert spear_envs.replay(record).matches(record)
    with pytest.raises(Rejection, match="at least 100"):
        verify_result(result)


def test_laptop_scale_result_verifies_on_the_laptop_track_and_short_lists_are_refused(tmp_path):
    out = tmp_path / "laptop.json"
    assert main(["eval", "--env", "webshop", "--agent", "expert", "--episodes", "100", "--out", str(out)]) == 0
    verification = verify_result(_load(out))
    assert verification.setting.track == "laptop" and verification.graded_score == (1.0, None)
    assert main(["eval", "--env", "webshop", "--agent", "expert", "--episodes", "5", "--out", str(out)]) == 0
    with pytest.raises(Rejection) as exc:
        verify_result(_load(out))
    assert exc.value.reason == "too_few_episodes" and "at least 100" in exc.value.message


@pytest.mark.parametrize("args, message", [
    (["--episodes", "0"], "--episodes must be at least 1"),
    (["--seed", "1", "1"], "--seed lists a seed twice"),
    (["--out", "/nonexistent-folder/r.json"], "does not exist"),
    (["--method", "x" * 300], "cannot build the result document"),
])
def test_bad_eval_arguments_are_refused_and_leave_files_intact(args, message, tmp_path, capsys):
    out = tmp_path / "result.json"
    out.write_text("previous result")
    argv = ["eval", "--env", "webshop", "--agent", "random", "--episodes", "1", "--scale", "paper", "--out", str(out)]
    assert main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert out.read_text() == "previous result"


# ---------------------------------------------------------------------- the committed reference rows
COMMITTED = [path for paths in submission_paths(SUBMISSIONS) for path in paths]


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_submission_files_are_valid_small_results(path):
    result = _load(path)
    assert result.env.id in spear_envs.SPEAR_ENVS
    assert path.name.endswith(f"__{result.content_hash()[:12]}.json")
    assert path.stat().st_size < MAX_SUBMISSION_BYTES


def test_every_env_has_expert_and_random_rows_from_eval_and_a_table():
    rows = {(r.env.id, r.preset) for r in map(_load, COMMITTED)}
    for env_id in BENCHMARK_ENVS.values():
        assert {(env_id, "eval-expert"), (env_id, "eval-random")} <= rows, env_id
        table = (LEADERBOARDS / f"{env_slug(env_id)}.md").read_text()
        assert "expert agent" in table and "random agent" in table


@pytest.mark.slow
@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_submission_files_replay(path):
    result = _load(path)
    assert verify_result(result).metrics == result.metrics
