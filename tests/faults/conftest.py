"""Fault tests run on their own (`pytest -m faults -p no:xdist`): they kill servers of their own
and restart a throwaway PostgreSQL cluster of their own, never the machine's."""

import pytest

from tests.databases import fresh_database, require_postgres, worker_id
from tests.live_server import cli, plain_env


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
async def demo_database(tmp_path):
    await require_postgres()
    async with fresh_database("postgresql", f"fault_{worker_id()}", tmp_path) as url:
        env = plain_env(url)
        cli(env, "migrate")
        cli(env, "seed-demo")
        yield url
