"""The problem generator (determinism, families, disjoint splits) and the problem-file loader."""

from __future__ import annotations

import json

import pytest

from spear_envs.math_tool.problem_files import ProblemFileError, load_problems
from spear_envs.math_tool.problem_generator import DIFFICULTIES, FAMILIES, generate_problem, split_of


def test_generation_is_deterministic_and_in_its_split():
    for split in ("train", "eval"):
        for seed in range(50):
            p = generate_problem(seed, split)
            assert p == generate_problem(seed, split)
            assert split_of(p.problem) == split and p.problem_id.startswith(f"gen-{split}-")
            assert p.answer.lstrip("-").isdigit()


def test_splits_are_disjoint():
    train = {generate_problem(s, "train").problem for s in range(1500)}
    evals = {generate_problem(s, "eval").problem for s in range(300)}
    assert len(evals) > 200 and not train & evals


def test_every_family_and_level_can_be_asked_for():
    for family, templates in FAMILIES.items():
        for level in DIFFICULTIES:
            seen = {generate_problem(s, "train", difficulty=level, families=(family,)).template for s in range(40)}
            assert seen == {t.__name__ for t in templates}
    hard = [int(generate_problem(s, difficulty=3, families=("number_theory",)).params.get("m", 0)) for s in range(40)]
    easy = [int(generate_problem(s, difficulty=1, families=("number_theory",)).params.get("m", 0)) for s in range(40)]
    assert max(hard) > max(easy)


def test_known_answers():
    p = generate_problem(0, "train", families=("geometry",), difficulty=1)
    if p.template == "grid_squares":  # rows x cols grid: sum of (r-s+1)(c-s+1)
        r, c = p.params["rows"], p.params["cols"]
        assert int(p.answer) == sum((r - s + 1) * (c - s + 1) for s in range(1, min(r, c) + 1))
    with pytest.raises(ValueError, match="split"):
        generate_problem(0, "test")
    with pytest.raises(ValueError, match="families"):
        generate_problem(0, families=("topology",))
    with pytest.raises(ValueError, match="difficulty"):
        generate_problem(0, difficulty=7)


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_aime_2024_and_2025_layouts(tmp_path):
    aime24 = write_jsonl(tmp_path / "aime24.jsonl", [
        {"ID": "2024-I-1", "Problem": "Find $1+1$.", "Solution": "...", "Answer": 2},
        {"ID": "2024-I-2", "Problem": "Find $2+3$.", "Solution": "...", "Answer": 5},
    ])
    problems = load_problems(aime24)
    assert [(p.problem, p.answer, p.problem_id) for p in problems] == [
        ("Find $1+1$.", "2", "aime24-2024-I-1"), ("Find $2+3$.", "5", "aime24-2024-I-2")]
    aime25 = write_jsonl(tmp_path / "aime25.jsonl", [{"problem": "Compute $7 \\cdot 6$.", "answer": "42"}])
    assert load_problems(aime25)[0].answer == "42" and load_problems(aime25)[0].problem_id == "aime25-0"


def test_dapo_parquet_layout(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    rows = [{
        "data_source": "math_dapo",
        "prompt": [{"role": "user", "content": f"Solve: what is {k} squared?\n\nRemember to put your answer on its own line after \"Answer:\"."}],
        "ability": "MATH",
        "reward_model": {"ground_truth": str(k * k), "style": "rule-lighteval/MATH_v2"},
        "extra_info": {"index": f"id-{k}"},
    } for k in (3, 4)]
    path = tmp_path / "dapo.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    problems = load_problems(path)
    assert [p.answer for p in problems] == ["9", "16"]
    assert problems[0].problem.startswith("Solve: what is 3 squared?") and problems[1].problem_id == "dapo-id-4"


def test_clear_errors(tmp_path):
    with pytest.raises(ProblemFileError, match="does not exist"):
        load_problems(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ProblemFileError, match="no problems"):
        load_problems(tmp_path / "empty.jsonl")
    with pytest.raises(ProblemFileError, match=r"no answer column.*'question'"):
        load_problems(write_jsonl(tmp_path / "noanswer.jsonl", [{"question": "q?"}]))
    (tmp_path / "bad.jsonl").write_text('{"problem": "a", "answer": 1}\n{broken\n')
    with pytest.raises(ProblemFileError, match="line 2"):
        load_problems(tmp_path / "bad.jsonl")
    with pytest.raises(ProblemFileError, match="row 1: the answer"):
        load_problems(write_jsonl(tmp_path / "blank.jsonl", [{"problem": "a", "answer": 1}, {"problem": "b", "answer": " "}]))
    (tmp_path / "p.csv").write_text("problem,answer\n")
    with pytest.raises(ProblemFileError, match="unsupported file type"):
        load_problems(tmp_path / "p.csv")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ProblemFileError, match="parquet"):
        load_problems(tmp_path / "junk.parquet")
