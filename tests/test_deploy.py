"""The deployment files say only what the app understands: compose.yaml's app services set
settings that exist and run `homework-api` commands that exist, with secrets from the
environment; the image's SQLite default lives in a directory its runtime user owns.

The Docker engine and the compose plugin are not needed: the files are parsed here. Where
`docker compose` exists, it also validates compose.yaml; elsewhere that test is skipped.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # PyYAML: installed with the dev dependencies (schemathesis requires it)

from app.cli import build_parser
from app.core.config import Settings, sqlite_directory
from app.main import create_app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
# The services that run the image built from this repository's Dockerfile.
APP_SERVICES = {name: s for name, s in SERVICES.items() if s.get("build") == "."}
SETTINGS = {name.upper() for name in Settings.model_fields}
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`: compose reads these from the environment.
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _interpolated(value: str, values: dict[str, str]) -> str:
    return INTERPOLATION.sub(lambda m: values[m.group(1)], value)


def test_compose_runs_the_api_a_worker_a_migration_postgresql_and_redis():
    assert {"api", "worker", "migrate"} <= set(APP_SERVICES)
    assert SERVICES["db"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")
    for name in ("api", "worker"):
        assert APP_SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert APP_SERVICES["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert APP_SERVICES["migrate"]["restart"] == "no"


def test_every_app_variable_in_compose_is_a_setting():
    for name, service in APP_SERVICES.items():
        unknown = set(_environment(service)) - SETTINGS
        assert not unknown, f"{name} sets {sorted(unknown)}, which app/core/config.py never reads"


def test_secrets_come_from_the_environment_and_the_settings_accept_them(monkeypatch):
    values = {"JWT_SECRET": "s" * 48, "POSTGRES_PASSWORD": "pw0123456789", "PORT": "8000"}
    for name, service in APP_SERVICES.items():
        env = _environment(service)
        # Neither the signing secret nor the database password is written in the file.
        assert env["JWT_SECRET"].startswith("${JWT_SECRET:?"), name
        assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"], name
        for key in list(os.environ):
            if key in SETTINGS:
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, _interpolated(value, values))
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.app_env == "production" and settings.signing_secret == "s" * 48
        assert settings.database_url.startswith("postgresql+asyncpg://homework:pw0123456789@db")
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.worker_in_process is False


def test_every_compose_command_is_a_homework_api_command():
    parser = build_parser()
    commands = {}
    for name, service in APP_SERVICES.items():
        command = service["command"]
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        assert argv[0] == "homework-api", name
        commands[name] = parser.parse_args(argv[1:]).command  # exits on an unknown option
    assert commands == {"api": "serve", "worker": "worker", "migrate": "migrate"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'homework-api = "app.cli:main"' in pyproject


def test_health_checks_probe_routes_the_api_has():
    settings = Settings(_env_file=None, app_env="test", database_url="sqlite+aiosqlite://")  # type: ignore[call-arg]
    paths = set(create_app(settings).openapi()["paths"])
    for name in ("db", "redis", "api"):
        assert SERVICES[name]["healthcheck"]["test"], name
    probe = " ".join(SERVICES["api"]["healthcheck"]["test"])
    probed = re.findall(r"http://127\.0\.0\.1:8000(/\w+)", probe)
    assert probed and set(probed) <= paths
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert set(re.findall(r"http://127\.0\.0\.1:8000(/\w+)", dockerfile)) <= paths
    # The image's HTTP check would mark the one-shot and the worker unhealthy: they turn it off.
    for name in ("migrate", "worker"):
        assert SERVICES[name]["healthcheck"] == {"disable": True}


def test_the_image_keeps_its_sqlite_default_where_the_runtime_user_may_write():
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile.split("AS runtime", 1)[1]
    database_url = re.search(r"DATABASE_URL=(\S+)", runtime)
    user = re.search(r"^USER (\S+)", runtime, re.MULTILINE)
    assert database_url and user
    directory = sqlite_directory(database_url.group(1))
    assert directory == Path("/data")
    before_user = runtime[: user.start()]
    assert f"mkdir -p {directory}" in before_user
    assert f"chown {user.group(1)}:{user.group(1)} {directory}" in before_user
    assert f'VOLUME ["{directory}"]' in runtime


DOCKER = shutil.which("docker")


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert DOCKER is not None
    return subprocess.run(
        [DOCKER, "compose", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _compose_plugin() -> bool:
    return DOCKER is not None and _compose("version").returncode == 0


@pytest.mark.skipif(
    not _compose_plugin(),
    reason="`docker compose` is not available here (no compose plugin); compose.yaml is "
    "checked by parsing it instead",
)
def test_docker_compose_validates_the_file_and_insists_on_the_secrets():
    env = {**os.environ, "JWT_SECRET": "s" * 48, "POSTGRES_PASSWORD": "pw0123456789"}
    ok = _compose("-f", str(ROOT / "compose.yaml"), "config", "--quiet", env=env)
    assert ok.returncode == 0, ok.stderr
    env.pop("JWT_SECRET")
    missing = _compose("-f", str(ROOT / "compose.yaml"), "config", "--quiet", env=env)
    assert missing.returncode != 0 and "JWT_SECRET" in missing.stderr
