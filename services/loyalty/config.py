"""Settings of the loyalty service (env prefix LOYALTY_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class LoyaltySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore")

    consumer_group: str = "loyalty"
