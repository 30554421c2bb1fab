"""Settings shared by every service: environment, Kafka, PostgreSQL and API keys.

Each service subclasses `ServiceSettings` with its own env prefix; infrastructure settings keep their
conventional unprefixed names (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL) so one environment serves all.
"""

from __future__ import annotations

import re
from typing import Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

DEV_INGEST_KEY = "dev-ingest-key"
DEV_OPERATOR_KEY = "dev-operator-key"
DEV_LOYALTY_KEY = "dev-loyalty-key"
"""Loyalty's read-only key of client `console`, which the alerting console sends for member lookup."""
LOCAL_DATABASE_URL = "postgresql+asyncpg://feedback:feedback@127.0.0.1:55432/feedback"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id_prefix: str = "feedback"
    publish_timeout_s: float = Field(default=10.0, gt=0)
    linger_ms: int = Field(default=5, ge=0)
    compression: Literal["snappy", "lz4", "zstd", "gzip", "none"] = "snappy"
    """The producers' codec. Snappy by default: aiokafka compresses lz4 at level 9 (LZ4-HC), an order
    of magnitude more CPU per event than snappy for a slightly better ratio; in batch ingestion that
    was a large share of the ingest process's CPU."""
    topic_suffix: str = ""
    """Appended to every topic name; tests use it to get topics of their own."""
    stall_after_s: float = Field(default=120.0, gt=0)
    """A partition with records to process and no progress for this long is stalled: /readyz answers 503
    and `kafka_consumer_stalled` is 1. Keep it above the slowest batch a handler takes when healthy."""
    unknown_error_attempts: int = Field(default=5, ge=1)
    """How many times one event whose handler fails with an unrecognised error is tried before it is
    dead-lettered (transient errors are retried for as long as they last, deterministic ones never)."""


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(default=LOCAL_DATABASE_URL, alias="DATABASE_URL")
    database_pool_size: int = Field(default=5, ge=1, alias="DATABASE_POOL_SIZE")

    @model_validator(mode="after")
    def _async_driver(self) -> Self:
        if self.database_url.startswith("postgresql://"):
            self.database_url = self.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        if not self.database_url.startswith("postgresql+asyncpg://"):
            raise ValueError("DATABASE_URL must be a postgresql:// or postgresql+asyncpg:// URL")
        return self


class ServiceSettings(BaseSettings):
    """Base for each service's settings; subclasses set `env_prefix`."""

    model_config = SettingsConfigDict(extra="ignore")

    app_env: Literal["local", "test", "production"] = Field(default="local", alias="APP_ENV")
    operator_api_key: SecretStr = Field(default=SecretStr(DEV_OPERATOR_KEY), alias="OPERATOR_API_KEY")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="LOG_LEVEL")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> Self:
        if self.app_env == "production" and self.operator_api_key.get_secret_value() == DEV_OPERATOR_KEY:
            raise ValueError("OPERATOR_API_KEY: the development key is refused when APP_ENV=production")
        return self


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class ConfigurationError(SystemExit):
    """Start-up stops with a message naming each offending variable."""


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build settings from the environment or exit with a message naming each bad variable."""
    try:
        return cls()
    except SettingsError as exc:
        # Raised for values that are not even parseable (e.g. bad JSON); it names the field only.
        match = re.search(r'field "(\w+)"', str(exc))
        prefix = str(cls.model_config.get("env_prefix", ""))
        variable = f"{prefix}{match.group(1)}".upper() if match else "settings"
        raise ConfigurationError(f"invalid configuration for {cls.__name__}:\n  {variable}: {exc}") from exc
    except ValidationError as exc:
        owner = next((c for c in (cls, KafkaSettings, DatabaseSettings) if c.__name__ == exc.title), cls)
        prefix = str(owner.model_config.get("env_prefix", ""))
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a model-level check: its message names the variable itself
                problems.append(f"  {error['msg'].removeprefix('Value error, ')}")
                continue
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            variable = field.upper() if field.isupper() or not prefix else f"{prefix}{field}".upper()
            problems.append(f"  {variable}: {error['msg']}")
        raise ConfigurationError(
            f"invalid configuration for {cls.__name__}:\n" + "\n".join(problems)
        ) from exc
