"""A serving process loads what serving needs: Alembic (migrating) and httpx (delivering
webhooks, from the worker) stay out of its memory, about 13 MB together."""

import os
import subprocess
import sys


def test_the_app_loads_neither_alembic_nor_httpx(tmp_path):
    code = (
        "import sys\n"
        "from app.main import create_app\n"
        "create_app()\n"
        "print(sorted(m for m in ('alembic', 'httpx') if m in sys.modules))\n"
    )
    env = os.environ | {
        "APP_ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
