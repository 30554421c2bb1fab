"""Settings of the sentiment service (env prefix SENTIMENT_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SentimentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    consumer_group: str = "sentiment"
