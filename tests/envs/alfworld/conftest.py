"""Fixtures for the ALFWorld tests: a small generated-games env and the real valid_seen games."""

from __future__ import annotations

import tarfile

import pytest

from spear_envs.alfworld.env import ALFWorldEnv
from spear_envs.alfworld.game_generator import TASK_TYPES


def small_env(**kwargs) -> ALFWorldEnv:
    """An env over small generated scenes whose games 0..5 are one of each task type."""
    kwargs.setdefault("scene_size", "small")
    kwargs.setdefault("num_games", 24)
    return ALFWorldEnv(**kwargs)


@pytest.fixture(scope="session")
def real_data_dir(shared_dir, tmp_path_factory):
    """../shared's valid_seen games, extracted once per session into a temp dir (skips when absent)."""
    archive = shared_dir / "data" / "alfworld" / "valid_seen.tar.xz"
    if not archive.is_file():
        pytest.skip(f"{archive} is absent")
    root = tmp_path_factory.mktemp("alfworld_real")
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    return root


__all__ = ["small_env", "TASK_TYPES"]
