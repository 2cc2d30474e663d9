"""Settings read from the environment (and an optional .env file) with pydantic-settings."""

import ipaddress
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

# Where development keeps its own random JWT secret when JWT_SECRET is not set: next to the
# SQLite database, git-ignored. A secret in the repository would let anyone who read it forge
# tokens for a development server exposed by mistake.
DEV_SECRET_FILE = ".homework-dev-secret"
# The test environment signs with a secret of the process: tokens made by one test app are
# good for another app of the same run, and for nothing else.
_TEST_SECRET = secrets.token_urlsafe(48)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(RuntimeError):
    """The configuration cannot run in this environment; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    database_url: str = "sqlite+aiosqlite:///./homework.db"
    db_pool_size: int = Field(default=10, ge=1, le=500)
    db_max_overflow: int = Field(default=20, ge=0, le=500)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)
    db_echo: bool = False
    # What sits between the API and PostgreSQL. `pgbouncer`: a connection pooler in
    # transaction (or session) mode, where consecutive transactions of one connection may run
    # on different server connections: no prepared statement is reused across transactions,
    # and the statement timeout is the server's to set (app/core/db.py, README).
    database_pooler: Literal["none", "pgbouncer"] = "none"

    # Required in production; development makes its own (DEV_SECRET_FILE) when it is not set.
    jwt_secret: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_private_key_file: Path | None = None
    jwt_issuer: str = "homework-api"
    jwt_audience: str = "homework-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    client_token_ttl_seconds: int = Field(default=300, ge=30, le=300)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # How long a process may answer the principal check (account active, API client not
    # revoked) from memory; 0 reads it on every request. At most 5 seconds.
    principal_cache_seconds: float = Field(default=4.0, ge=0, le=5)

    redis_url: str | None = None
    redis_key_prefix: str = "homework"
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    # Threads that hash and verify passwords (argon2, ~20-50 ms of CPU each). Default: half the
    # cores, so a login flood leaves the event loop and the database the other half.
    password_hash_threads: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1, le=64
    )

    webhook_allow_http_loopback: bool = False  # development only: http://127.0.0.1 receivers
    worker_in_process: bool | None = None  # default: yes with SQLite, no with PostgreSQL
    worker_interval_seconds: float = Field(default=1.0, gt=0, le=60)

    rate_limit_per_minute: int = Field(default=1200, ge=0)  # per principal; 0 turns it off
    rate_limit_anonymous_per_minute: int = Field(default=120, ge=1)  # per source IP
    audit_retention_days: int = Field(default=2192, ge=1)  # six years
    # A claimed Idempotency-Key whose request died (a crash) can be retried after this long.
    idempotency_in_progress_seconds: int = Field(default=60, ge=1, le=3600)

    cors_origins: Annotated[list[str], NoDecode] = []
    # Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; empty
    # trusts nobody, so a caller cannot choose its own address (and rate-limit bucket).
    forwarded_allow_ips: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list | tuple):
            return value
        try:
            return tuple(ipaddress.ip_network(item, strict=False) for item in value)
        except ValueError as exc:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS takes IP addresses or CIDR networks: {exc}"
            ) from None

    @model_validator(mode="after")
    def _pooler_needs_postgres(self) -> "Settings":
        if self.database_pooler != "none" and not self.database_url.startswith("postgresql"):
            raise ConfigError(
                f"DATABASE_POOLER={self.database_pooler} needs a PostgreSQL DATABASE_URL "
                "(postgresql+asyncpg://...), the address of the pooler."
            )
        return self

    @model_validator(mode="after")
    def _signing_key(self) -> "Settings":
        """Production refuses to start without a strong secret or a key pair; development and
        tests make their own secret."""
        if self.jwt_algorithm != "HS256":
            if self.jwt_private_key_file is None:
                raise ConfigError(
                    f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PRIVATE_KEY_FILE to be set."
                )
            return self
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if self.app_env == "production":
            if len(secret) < 32:
                raise ConfigError(
                    "APP_ENV=production needs a JWT secret: set JWT_SECRET to a random value of "
                    "at least 32 characters (or configure JWT_PRIVATE_KEY_FILE with "
                    "JWT_ALGORITHM=RS256/ES256)."
                )
        elif not secret:
            made = (
                development_secret(sqlite_directory(self.database_url))
                if self.app_env == "development"
                else _TEST_SECRET
            )
            self.jwt_secret = SecretStr(made)
        return self

    @property
    def signing_secret(self) -> str:
        """The HS256 secret (set by now in every environment that uses HS256)."""
        return self.jwt_secret.get_secret_value() if self.jwt_secret else ""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def sqlite_directory(database_url: str) -> Path:
    """The directory of the SQLite database file; the working directory for anything else."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent
    return Path.cwd()


def development_secret(directory: Path) -> str:
    """This checkout's own JWT secret: made at random on the first start, read on later ones,
    in a file only its owner can read."""
    path = directory / DEV_SECRET_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        # Written aside (mkstemp makes it 0600) and linked into place: processes starting
        # together (uvicorn workers) see no file or a whole one, and the first link wins.
        handle, aside = tempfile.mkstemp(dir=directory, prefix=f"{DEV_SECRET_FILE}.")
        try:
            with os.fdopen(handle, "w") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(aside)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ConfigError(f"{path} holds no usable JWT secret; delete it to make a new one.")
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
