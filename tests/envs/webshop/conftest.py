"""Fixtures: the default generated 1k-product catalog, shared by every test in the process."""

from __future__ import annotations

import pytest

from spear_envs.webshop.catalog import CatalogSource, get_catalog
from spear_envs.webshop.env import WebShopEnv


@pytest.fixture(scope="session")
def catalog():
    return get_catalog(CatalogSource(None, 1000, 0))


@pytest.fixture
def make_env():
    def make(**kwargs) -> WebShopEnv:
        return WebShopEnv(**kwargs)
    return make
