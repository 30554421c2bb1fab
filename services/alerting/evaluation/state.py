"""What alerting holds in memory: the rule engines and member tiers, rebuilt from the database after a
restart, a config change or a failed batch, so memory never runs ahead of what was committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.evaluation.commerce import CommerceEngine
from services.alerting.evaluation.engine import Cell, RuleEngine
from services.alerting.models import engine_state, member_tiers, window_cells
from services.alerting.rules import AlertingConfig

log = structlog.get_logger(__name__)


class AlertingState:
    """The engine and member tiers held in memory; rebuilt from the database after a restart, a config
    change or a failed batch, so memory never runs ahead of what was committed."""

    def __init__(
        self,
        config: Callable[[], AlertingConfig],
        clock: Callable[[], datetime] | None = None,
        deployment: str = "alerting",
    ) -> None:
        self.config = config
        self.deployment = deployment
        """Its consumer group: what hand-off notices remember who was on call under."""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.engine: RuleEngine | None = None
        self.commerce: CommerceEngine | None = None
        self.engine_config: AlertingConfig | None = None
        self.tiers: dict[str, str] = {}
        self.notify = asyncio.Event()
        """Set when a batch committed new notifications."""
        self.pruned: dict[str, int] = {}
        """Per rule, the oldest held bucket its stored cells were last pruned to."""

    def to_prune(self, held: dict[str, int]) -> dict[str, int]:
        """The rules whose rings moved past buckets since their stored cells were last pruned."""
        moved = {rule: bucket for rule, bucket in held.items() if self.pruned.get(rule) != bucket}
        self.pruned.update(moved)
        return moved

    async def ready_engine(self, conn: AsyncConnection) -> RuleEngine:
        config = self.config()
        if self.engine is None or self.engine_config is not config:
            engine, commerce = RuleEngine(config), CommerceEngine(config)
            rows = (await conn.execute(select(window_cells))).all()
            stored = dict((await conn.execute(select(engine_state.c.name, engine_state.c.value))).all())
            cells = [
                Cell(r.rule_id, tuple(sorted(r.group_key.items())), r.bucket, tuple(r.sums)) for r in rows
            ]
            marks = {name: float(value) for name, value in stored.items()}
            engine.restore(cells, marks)
            commerce.restore(cells, marks)
            self.commerce = commerce
            self.tiers = dict(
                (await conn.execute(select(member_tiers.c.customer_id, member_tiers.c.tier))).all()
            )
            self.engine, self.engine_config = engine, config
            log.info("alerting_engine_restored", cells=len(rows), rules=len(engine.rules))
        return self.engine

    def firing_now(self, rule_id: str, group_key: tuple[tuple[str, str], ...]) -> bool | None:
        """Whether a windowed rule's condition holds for a group now (None: unknown, e.g. not loaded)."""
        found = self.engine.firing_now(rule_id, group_key) if self.engine is not None else None
        if found is None and self.commerce is not None:
            found = self.commerce.firing_now(rule_id, group_key)
        return found
