"""Settings of the ingest service (env prefix INGEST_)."""

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import DEV_INGEST_KEY, ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    api_keys: dict[str, SecretStr] = Field(default_factory=lambda: {"demo": SecretStr(DEV_INGEST_KEY)})
    """Client name → API key, as JSON: INGEST_API_KEYS='{"pos": "…", "crm": "…"}'."""

    @model_validator(mode="after")
    def _no_dev_ingest_key_in_production(self) -> Self:
        if self.app_env == "production" and any(
            key.get_secret_value() == DEV_INGEST_KEY for key in self.api_keys.values()
        ):
            raise ValueError("INGEST_API_KEYS: the development key is refused when APP_ENV=production")
        return self
