"""Settings of the loyalty service (env prefix LOYALTY_)."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from services.loyalty.rules import DEFAULT_RULES
from shared.settings import ServiceSettings


class LoyaltySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore")

    consumer_group: str = "loyalty"
    rules_path: Path = DEFAULT_RULES
    """Earning rules, tiers and redemption value (YAML; re-read when it changes)."""
    relay_outbox: bool = True
    schedule_interval_s: float = 3600.0
    """How often expiry, reminders (and, on the 1st of the month, tier downgrades) run; 0 turns it off."""
