"""Settings of the ingest service (env prefix INGEST_)."""

import os
from datetime import datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, Field, SecretStr, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.ingest.mask import ALL_KINDS, PiiKind
from shared.contracts.bounds import EARLIEST, LATEST
from shared.security import HASH_PATTERN, hash_key
from shared.settings import DEV_INGEST_KEY, ServiceSettings

DEV_PSEUDONYM_KEY = "dev-pseudonym-key"

KeyHash = Annotated[str, StringConstraints(pattern=HASH_PATTERN)]


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    api_keys: dict[str, KeyHash] = Field(default_factory=lambda: {"demo": hash_key(DEV_INGEST_KEY)})
    """Client name → SHA-256 of its key, as JSON: INGEST_API_KEYS='{"pos": "sha256:…"}'.
    `python -m shared.security KEY` prints the hash of a key."""

    rate_limit_per_s: float = Field(default=500.0, ge=0)
    """Requests per second each client may make (token bucket); 0 turns the limit off."""
    rate_limit_burst: int = Field(default=1000, ge=1)

    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    pii_kinds: set[PiiKind] = Field(default_factory=lambda: set(ALL_KINDS))
    """Kinds of personal data masked in text and metadata (keys and values) and replaced by pseudonyms
    in identifiers; [] turns both off."""

    database_timeout_s: float = Field(default=10.0, gt=0)
    """How long claiming records may take before the request answers 503 (database hung or locked)."""

    prepare_workers: int | None = Field(default=None, ge=0, le=8)
    """Helper processes that validate, mask and serialize large batch bodies (see
    services.ingest.batches); unset: one per CPU this process may run on, at most 4 (none on one CPU).
    Concurrent batches are prepared in parallel while the event loop claims, publishes and answers; a
    second helper still helps on 2 CPUs, since the OS shares the cores out between it and the loop."""

    pseudonym_key: SecretStr = SecretStr(DEV_PSEUDONYM_KEY)
    """Keyed-hash secret of the stable pseudonyms that replace personal data in identifiers (see
    services.ingest.mask) and of e-mail senders without a customer_id. Changing it changes every
    pseudonym: customers seen before no longer join with their history."""

    def helper_processes(self) -> int:
        if self.prepare_workers is not None:
            return self.prepare_workers
        cpus = len(os.sched_getaffinity(0))
        return min(cpus, 4) if cpus > 1 else 0

    @model_validator(mode="after")
    def _no_dev_ingest_key_in_production(self) -> Self:
        if self.app_env == "production" and hash_key(DEV_INGEST_KEY) in self.api_keys.values():
            raise ValueError("INGEST_API_KEYS: the development key is refused when APP_ENV=production")
        if self.app_env == "production" and self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
            raise ValueError(
                "INGEST_PSEUDONYM_KEY: the development secret is refused when APP_ENV=production"
            )
        return self


class TimeBounds(BaseSettings):
    """How far back and ahead of this service's clock ingest accepts event times (INGEST_EARLIEST_TIME,
    INGEST_FUTURE_TOLERANCE_S). Read from the environment by services.ingest.times, where request times are
    checked, so that the helper processes validating batches apply the same bounds as the event loop."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    earliest_time: AwareDatetime = EARLIEST
    future_tolerance_s: float = Field(default=300.0, ge=0, le=86_400)
    """Clients' clocks may run ahead of ours by this much."""

    @field_validator("earliest_time")
    @classmethod
    def _within_the_contracts(cls, value: datetime) -> datetime:
        # Earlier than the contracts allow, ingest would accept records it then cannot publish.
        if not EARLIEST <= value < LATEST:
            raise ValueError(f"must be from {EARLIEST.isoformat()} and before {LATEST.isoformat()}")
        return value
