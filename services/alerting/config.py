"""Settings of the alerting service (env prefix ALERTING_)."""

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.alerting.rules import DEFAULT_RULES
from shared.settings import DEV_LOYALTY_KEY, ServiceSettings

DEV_WEBHOOK_SECRET = "dev-webhook-secret"  # noqa: S105 - refused when APP_ENV=production


class AlertingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTING_", extra="ignore")

    consumer_group: str = "alerting"
    rules_path: Path = DEFAULT_RULES
    """Rules, escalation policies, schedules and contacts (YAML; re-read when it changes)."""
    timer_interval_s: float = Field(default=1.0, gt=0)
    notify_interval_s: float = Field(default=0.5, gt=0)
    notify_concurrency: int = Field(default=4, ge=1, le=256)
    """Notifications in flight at once per destination (channel + host), each on a keep-alive connection."""
    notify_timeout_s: float = Field(default=5.0, gt=0)
    """A receiver that has not answered within this long has failed this attempt (retried later)."""
    loop_stall_s: float = Field(default=60.0, gt=0)
    """/readyz answers 503 when the timer loop or the notifier has not completed a pass for this long."""
    watchdog_interval_s: float = Field(default=15.0, gt=0)
    """How often overdue transitions and notifications are counted (alerting_overdue_* gauges)."""
    leader_election: bool = True
    """Replicas of one consumer group elect a leader (a PostgreSQL advisory lock): only it consumes and
    runs the timers and the notifier; every replica serves the API and the console."""
    leader_poll_s: float = Field(default=2.0, gt=0)
    """How often a standby tries to take over."""
    run_timers: bool = True
    run_notifier: bool = True
    webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    """HMAC-SHA256 key of the X-Feedback-Signature header on every webhook."""
    webhook_url: str | None = None
    """Default webhook for targets without a contact address of their own."""
    slack_url: str | None = None
    slack_signing_secret: SecretStr | None = None
    """Your Slack app's signing secret: with it, the Acknowledge button of a Slack page acknowledges in
    place (interactivity request URL: <public_url>/slack/actions); without, it opens the ack link."""
    webhook_allow: list[str] = Field(default_factory=list)
    """Hosts or CIDRs a webhook may reach although private or loopback (refused otherwise: SSRF guard)."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "alerts@feedback.local"
    alertmanager_url: str | None = None
    sms_url: str | None = None
    """The SMS provider's HTTP endpoint; the request body is the template sms/request.j2."""
    sms_token: SecretStr | None = None
    """Sent to the SMS provider as `Authorization: Bearer …` when set."""
    public_url: str = "http://127.0.0.1:8003"
    """Where people reach this service: the base of the alert links in pages."""
    templates_dir: Path | None = None
    """The operator's page templates, each replacing the shipped file of the same path (see
    services/alerting/delivery/templates/); checked at start."""
    ack_link_ttl_s: float = Field(default=7 * 24 * 3600, gt=0)
    """How long the acknowledge link on a page stays valid (each works once)."""
    page_time_zone: str = "Asia/Shanghai"
    """Times in pages are shown in this IANA time zone."""
    max_attempts: int = Field(default=8, ge=1)
    loyalty_url: str = "http://127.0.0.1:8004"
    """The loyalty service, asked by the console's member lookup (a same-origin proxy: no CORS needed)."""
    loyalty_api_key: SecretStr = SecretStr(DEV_LOYALTY_KEY)
    """The read-only key member lookup sends to loyalty (one of LOYALTY_API_KEYS)."""
    insights_url: str = "http://127.0.0.1:8005"
    """The insights service, asked by the console's Insights page (a same-origin proxy, as for loyalty)."""
    insights_api_key: SecretStr | None = None
    """The key the Insights page sends to insights (one of INSIGHTS_API_KEYS); OPERATOR_API_KEY when unset."""
    console_secret: SecretStr | None = None
    """Signs console session cookies; derived from OPERATOR_API_KEY when unset."""
    console_session_ttl_s: float = Field(default=12 * 3600, gt=0)

    @model_validator(mode="after")
    def production_secret(self) -> Self:
        if self.app_env == "production" and self.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET:
            raise ValueError(
                "ALERTING_WEBHOOK_SECRET: the development secret is refused when APP_ENV=production"
            )
        if self.app_env == "production" and self.loyalty_api_key.get_secret_value() == DEV_LOYALTY_KEY:
            raise ValueError(
                "ALERTING_LOYALTY_API_KEY: the development key is refused when APP_ENV=production"
            )
        return self
