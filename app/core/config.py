"""Settings read from the environment (and an optional .env file) with pydantic-settings."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Known to everyone who reads this file, so it is refused in production.
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"


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

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_private_key_file: Path | None = None
    jwt_issuer: str = "homework-api"
    jwt_audience: str = "homework-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    client_token_ttl_seconds: int = Field(default=300, ge=30, le=300)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)

    redis_url: str | None = None
    redis_key_prefix: str = "homework"
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)

    webhook_allow_http_loopback: bool = False  # development only: http://127.0.0.1 receivers
    worker_in_process: bool | None = None  # default: yes with SQLite, no with PostgreSQL
    worker_interval_seconds: float = Field(default=1.0, gt=0, le=60)

    rate_limit_per_minute: int = Field(default=1200, ge=0)  # per principal; 0 turns it off
    rate_limit_anonymous_per_minute: int = Field(default=120, ge=1)  # per source IP
    audit_retention_days: int = Field(default=2192, ge=1)  # six years
    # A claimed Idempotency-Key whose request died (a crash) can be retried after this long.
    idempotency_in_progress_seconds: int = Field(default=60, ge=1, le=3600)

    cors_origins: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> "Settings":
        if self.app_env != "production":
            return self
        if self.jwt_algorithm == "HS256":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET or len(secret) < 32:
                raise ConfigError(
                    "APP_ENV=production needs a JWT secret: set JWT_SECRET to a random value of "
                    "at least 32 characters (or configure JWT_PRIVATE_KEY_FILE with "
                    "JWT_ALGORITHM=RS256/ES256)."
                )
        elif self.jwt_private_key_file is None:
            raise ConfigError(
                f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PRIVATE_KEY_FILE to be set."
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
