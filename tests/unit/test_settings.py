"""Settings: bad values stop start-up naming the variable; development keys are refused in production."""

from __future__ import annotations

import pytest

from services.ingest.config import IngestSettings
from services.loyalty.config import LoyaltySettings
from shared.settings import ConfigurationError, DatabaseSettings, load_settings


def test_bad_value_names_the_environment_variable(monkeypatch):
    monkeypatch.setenv("KAFKA_PUBLISH_TIMEOUT_S", "soon")
    with pytest.raises(ConfigurationError, match="KAFKA_PUBLISH_TIMEOUT_S"):
        load_settings(LoyaltySettings)


def test_bad_prefixed_value_names_the_service_variable(monkeypatch):
    monkeypatch.setenv("INGEST_API_KEYS", "not json")
    with pytest.raises(ConfigurationError, match="INGEST_API_KEYS"):
        load_settings(IngestSettings)


def test_production_refuses_the_development_operator_key(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("INGEST_API_KEYS", '{"pos": "sha256:' + "a" * 64 + '"}')
    with pytest.raises(ConfigurationError, match="OPERATOR_API_KEY"):
        load_settings(IngestSettings)


def test_production_refuses_the_development_ingest_key(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("OPERATOR_API_KEY", "a-real-operator-secret")
    with pytest.raises(ConfigurationError, match="INGEST_API_KEYS"):
        load_settings(IngestSettings)


def test_production_starts_with_real_keys(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("INGEST_PSEUDONYM_KEY", "a-real-pseudonym-secret")
    monkeypatch.setenv("OPERATOR_API_KEY", "a-real-operator-secret")
    monkeypatch.setenv("INGEST_API_KEYS", '{"pos": "sha256:' + "a" * 64 + '"}')
    settings = load_settings(IngestSettings)
    assert set(settings.api_keys) == {"pos"}


def test_plain_postgresql_url_gets_the_async_driver(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/x")
    assert DatabaseSettings().database_url == "postgresql+asyncpg://u:p@db:5432/x"


def test_non_postgres_database_is_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://u:p@db/x")
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        load_settings(DatabaseSettings)


def test_ingest_keys_must_be_configured_as_hashes(monkeypatch):
    monkeypatch.setenv("INGEST_API_KEYS", '{"pos": "plain-text-key"}')
    with pytest.raises(ConfigurationError, match=r"INGEST_API_KEYS\.POS"):
        load_settings(IngestSettings)


def test_production_refuses_the_development_pseudonym_secret(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("OPERATOR_API_KEY", "a-real-operator-secret")
    monkeypatch.setenv("INGEST_API_KEYS", '{"pos": "sha256:' + "a" * 64 + '"}')
    with pytest.raises(ConfigurationError, match="INGEST_PSEUDONYM_KEY"):
        load_settings(IngestSettings)
