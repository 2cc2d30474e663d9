"""The TypeScript client (clients/typescript) drives a scenario against a live server with the demo
data: compiled with `tsc --strict`, run with node's own test runner."""

import os
import re
import subprocess

import pytest

from app.seed import DEFAULT_PASSWORD
from tests.live_server import Server, cli, plain_env
from tests.sdk.typescript import CLIENT, installed, run, tools

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = plain_env(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tsdb')}/ts.db")
    cli(env, "migrate")
    cli(env, "seed-demo")
    running = Server(env).start()
    yield running
    running.stop()


def test_the_typescript_client_drives_the_demo_scenario(server):
    node, _ = tools()
    tsc = installed() / "tsc"
    # Type errors fail here, before anything runs.
    run(str(tsc), "-p", "tsconfig.json")
    env = {
        **os.environ,
        "HOMEWORK_API_URL": server.url,
        "HOMEWORK_DEMO_PASSWORD": DEFAULT_PASSWORD,
        "HOMEWORK_THERAPIST_EMAIL": "therapist@demo.clinic",
        "HOMEWORK_CLIENT_EMAIL": "client1@demo.clinic",
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "dist/test/scenario.test.js"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output}\nserver errors:\n{server.errors()}"
    # A file that ran no test at all would exit 0 too.
    assert re.search(r"^# pass [1-9]", output, re.M) and "\n# fail 0" in output, output
