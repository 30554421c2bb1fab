"""Silences: label matchers over a time range; silenced alerts are recorded but not notified."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.models import silences


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="rule, level, or a group dimension such as business_line")
    value: str


def matches(matchers: Sequence[Mapping[str, Any]], labels: Mapping[str, Any]) -> bool:
    return all(str(labels.get(m["name"], "")) == m["value"] for m in matchers)


async def active_silences(conn: AsyncConnection, now: datetime) -> list[list[dict[str, Any]]]:
    rows = await conn.execute(
        select(silences.c.matchers).where(
            silences.c.deleted_at.is_(None), silences.c.starts_at <= now, silences.c.ends_at > now
        )
    )
    return [list(r.matchers) for r in rows]


def silenced(active: Sequence[Sequence[Mapping[str, Any]]], labels: Mapping[str, Any]) -> bool:
    return any(matches(matchers, labels) for matchers in active)
