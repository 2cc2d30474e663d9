"""Settings: production refuses insecure defaults and says which variable to set."""

import os
import subprocess
import sys

import pytest

from app.core.config import ConfigError, Settings


def test_production_without_a_jwt_secret_refuses_to_start():
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings(_env_file=None, app_env="production")


def test_production_with_a_short_secret_refuses_to_start():
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings(_env_file=None, app_env="production", jwt_secret="short")


def test_production_with_a_strong_secret_starts():
    settings = Settings(_env_file=None, app_env="production", jwt_secret="x" * 40)
    assert settings.app_env == "production"


def test_cors_origins_accept_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]


def test_serve_command_names_the_missing_variable_in_production(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env.update(APP_ENV="production", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr
