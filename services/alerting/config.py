"""Settings of the alerting service (env prefix ALERTING_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AlertingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTING_", extra="ignore")

    consumer_group: str = "alerting"
