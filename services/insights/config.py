"""Settings of the insights service (env prefix INSIGHTS_)."""

from __future__ import annotations

from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.contracts.alerts import Level
from shared.security import KeyHash, hash_key
from shared.settings import ServiceSettings

OPERATOR = "operator"
HOUR = 3600.0


def _targets(l1: float, l2: float, l3: float, l4: float) -> dict[Level, float]:
    """Seconds by level, from hours."""
    return {"L1": l1 * HOUR, "L2": l2 * HOUR, "L3": l3 * HOUR, "L4": l4 * HOUR}


class InsightsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INSIGHTS_", extra="ignore")

    consumer_group: str = "insights"
    time_zone: str = "Asia/Shanghai"
    """The business's time zone: days and weeks (Monday to Sunday) are counted in it. Changing it
    leaves days already rolled up where they were: `python -m services.insights.rebuild` recounts them."""
    business_lines: list[str] = Field(default_factory=lambda: ["retail", "catering", "auto", "travel"])
    """Business lines that get a label of their own on the cx_* metrics; any other is counted as `other`
    (a label per free-text value would grow Prometheus without bound). The API knows every value."""
    regions: list[str] = Field(
        default_factory=lambda: ["华东", "华北", "华南", "西南", "east", "north", "south"]
    )
    """As business_lines, for the `region` label."""
    response_target_s: dict[Level, float] = Field(default_factory=lambda: _targets(2, 2, 2, 2))
    """Fire → first acknowledgement, by level (every complaint answered within 2 hours)."""
    resolution_target_s: dict[Level, float] = Field(default_factory=lambda: _targets(24, 24, 4, 4))
    """Fire → resolve, by level: normal complaints in 24 h, systemic and brand crises (urgent) in 4 h."""
    closure_working_days: int = Field(default=7, ge=1, le=60)
    """`closure_rate` counts alerts resolved within this many working days (Monday to Friday)."""
    recurrence_days: int = Field(default=30, ge=1, le=365)
    """Negative feedback on an aspect recurs when the same customer was negative on it this recently."""
    alert_url: str = "http://127.0.0.1:8003/console#/alerts/{alert_id}"
    """Where the drill-down links an alert; `{alert_id}` is replaced."""
    api_keys: dict[str, KeyHash] = Field(default_factory=dict)
    """Read-only clients (dashboards): name → SHA-256 of its key, as JSON. The operator key reads too."""

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def key_hashes(self) -> dict[str, str]:
        return {**self.api_keys, OPERATOR: hash_key(self.operator_api_key.get_secret_value())}

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from exc
        return value

    @model_validator(mode="after")
    def _every_level(self) -> Self:
        for name in ("response_target_s", "resolution_target_s"):
            missing = {"L1", "L2", "L3", "L4"} - set(getattr(self, name))
            if missing:
                raise ValueError(f"{name} lacks a target for {', '.join(sorted(missing))}")
        if OPERATOR in self.api_keys:
            raise ValueError(f"INSIGHTS_API_KEYS: {OPERATOR!r} names the operator key; choose another name")
        return self
