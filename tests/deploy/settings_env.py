"""The environment variables each service actually reads, taken from its Settings class."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from services.alerting.config import AlertingSettings
from services.ingest.config import IngestSettings
from services.insights.config import InsightsSettings
from services.loyalty.config import LoyaltySettings
from services.sentiment.config import SentimentSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "sentiment": SentimentSettings,
    "alerting": AlertingSettings,
    "loyalty": LoyaltySettings,
    "insights": InsightsSettings,
}


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every variable cls reads, nested settings (Kafka, database) included."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    names = set()
    for name, field in cls.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            names |= env_names(nested)
        elif field.alias:
            names.add(field.alias.upper())
        else:
            names.add(prefix + name.upper())
    return names


def service_env(service: str) -> set[str]:
    return env_names(SETTINGS[service])
