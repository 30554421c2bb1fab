"""Settings of the loyalty service (env prefix LOYALTY_)."""

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.loyalty.rules import DEFAULT_RULES
from shared.security import KeyHash, hash_key
from shared.settings import DEV_LOYALTY_KEY, ServiceSettings

OPERATOR = "operator"


class LoyaltySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore")

    consumer_group: str = "loyalty"
    rules_path: Path = DEFAULT_RULES
    """Earning rules, tiers and redemption value (YAML; re-read when it changes)."""
    relay_outbox: bool = True
    schedule_interval_s: float = 3600.0
    """How often expiry, reminders (and, on the 1st of the month, tier downgrades) run; 0 turns it off."""
    api_keys: dict[str, KeyHash] = Field(default_factory=lambda: {"console": hash_key(DEV_LOYALTY_KEY)})
    """Read-only clients (member summaries and ledgers): name → SHA-256 of its key, as JSON:
    LOYALTY_API_KEYS='{"console": "sha256:…"}'. The operator key reads too, and alone writes."""

    def key_hashes(self) -> dict[str, str]:
        """Every key this service knows, by client name; the operator key's client is `operator`."""
        return {**self.api_keys, OPERATOR: hash_key(self.operator_api_key.get_secret_value())}

    @model_validator(mode="after")
    def _read_keys(self) -> Self:
        if OPERATOR in self.api_keys:
            raise ValueError(f"LOYALTY_API_KEYS: {OPERATOR!r} names the operator key; choose another name")
        if self.app_env == "production" and hash_key(DEV_LOYALTY_KEY) in self.api_keys.values():
            raise ValueError("LOYALTY_API_KEYS: the development key is refused when APP_ENV=production")
        return self
