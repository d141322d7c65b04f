"""Shared fixtures. Tests that read ../shared data skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the checkout; skips the test when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is absent (research data is only on the developers' and CI machines)")
    return SHARED_DIR
