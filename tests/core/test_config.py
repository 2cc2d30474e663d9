"""Settings: production refuses insecure defaults and says which variable to set; development
makes its own JWT secret."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import DEV_SECRET_FILE, ConfigError, Settings


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
    assert Settings(_env_file=None, app_env="test").cors_origins == [
        "https://a.example",
        "https://b.example",
    ]


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


def dev_settings(directory, monkeypatch) -> Settings:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    return Settings(
        _env_file=None, app_env="development", database_url=f"sqlite+aiosqlite:///{directory}/h.db"
    )


def test_development_makes_its_own_secret_once_in_a_private_file(tmp_path, monkeypatch):
    first = dev_settings(tmp_path, monkeypatch).jwt_secret.get_secret_value()
    secret_file = tmp_path / DEV_SECRET_FILE
    assert secret_file.read_text().strip() == first and len(first) >= 48
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    again = dev_settings(tmp_path, monkeypatch).jwt_secret.get_secret_value()
    assert again == first
    assert [p.name for p in tmp_path.iterdir()] == [DEV_SECRET_FILE]  # nothing else left behind


def test_each_development_checkout_has_another_secret(tmp_path, monkeypatch):
    one, other = tmp_path / "one", tmp_path / "other"
    assert (
        dev_settings(one, monkeypatch).jwt_secret.get_secret_value()
        != dev_settings(other, monkeypatch).jwt_secret.get_secret_value()
    )


def test_a_configured_secret_is_used_and_no_file_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    settings = Settings(
        _env_file=None, app_env="development", database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db"
    )
    assert settings.jwt_secret.get_secret_value() == "s" * 40
    assert not (tmp_path / DEV_SECRET_FILE).exists()


def test_the_development_secret_file_is_git_ignored():
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text().splitlines()
    assert f"{DEV_SECRET_FILE}*" in ignored


def test_forwarded_allow_ips_take_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, 127.0.0.1,::1")
    networks = Settings(_env_file=None, app_env="test").forwarded_allow_ips
    assert [str(n) for n in networks] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")
    assert Settings(_env_file=None, app_env="test").forwarded_allow_ips == ()  # trust nobody
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "proxy.internal")
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        Settings(_env_file=None, app_env="test")
