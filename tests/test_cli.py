"""The homework-api command: migrate, seed the demo world twice, create a clinic."""

import pytest
from sqlalchemy import create_engine, text

from app.cli import main
from app.core.config import get_settings


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("APP_ENV", "development")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def _count(path, sql):
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        value = connection.execute(text(sql)).scalar_one()
    engine.dispose()
    return value


def test_seed_demo_is_idempotent_and_prints_the_credentials(sqlite_env, capsys):
    main(["migrate"])
    main(["seed-demo"])
    first = capsys.readouterr().out
    main(["seed-demo"])
    second = capsys.readouterr().out
    assert "demo-password-1" in first and "client_secret=" in first
    assert "(0 objects created)" in second
    assert _count(sqlite_env, "SELECT count(*) FROM user") == 8
    assert _count(sqlite_env, "SELECT count(*) FROM clinic") == 2
    assert _count(sqlite_env, "SELECT count(*) FROM care_team_member") == 3
    assert _count(sqlite_env, "SELECT count(*) FROM assignment") == 9
    assert _count(sqlite_env, "SELECT count(*) FROM goal") == 3
    assert _count(sqlite_env, "SELECT count(*) FROM assignment WHERE goal_id IS NOT NULL") == 6
    assert _count(sqlite_env, "SELECT count(*) FROM completion") > 50
    assert _count(sqlite_env, "SELECT count(*) FROM template WHERE source = 'builtin'") == 10


def test_seed_demo_refuses_production(sqlite_env, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    get_settings.cache_clear()
    with pytest.raises(SystemExit, match="production"):
        main(["seed-demo"])


def test_create_clinic_makes_its_first_admin(sqlite_env, capsys):
    main(["migrate"])
    main(
        [
            "create-clinic",
            "--name",
            "Northside",
            "--timezone",
            "Europe/Vienna",
            "--admin-email",
            "boss@northside.example.com",
            "--admin-name",
            "Boss",
            "--password",
            "a-long-admin-passphrase",
        ]
    )
    assert "created with admin" in capsys.readouterr().out
    assert (
        _count(sqlite_env, "SELECT count(*) FROM user WHERE role = 'admin' AND status = 'active'")
        == 1
    )
