"""Purchases and refunds as the commerce rules see them: a refund that does not name its business line
counts for the line of its order, which alerting remembers from the purchase for ORDER_MEMORY."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.evaluation.commerce import Sale
from services.alerting.models import orders
from shared.contracts.commerce import Purchase, Refund
from shared.contracts.envelope import Envelope

ORDER_MEMORY = timedelta(days=180)
"""How long a purchase is remembered for its refunds; an older order's refund counts only where it
names its business line itself."""
_FORGET = text("""
    DELETE FROM alerting.orders WHERE order_id IN (
        SELECT order_id FROM alerting.orders WHERE placed_at < :before LIMIT :limit)
""")


def _dims(purchase: Purchase) -> dict[str, str | None]:
    return {
        "business_line": purchase.business_line or "",
        "channel": purchase.channel or "",
        "store_id": purchase.store_id or "",
    }


async def sales_of(conn: AsyncConnection, events: Sequence[Envelope[Any]], remember: bool) -> list[Sale]:
    """The batch's purchases and refunds, refunds attributed to their orders' lines; with `remember`,
    the purchases are kept for later refunds (in the batch's transaction). Other events are ignored."""
    purchases = {e.payload.order_id: e for e in events if isinstance(e.payload, Purchase)}
    if remember and purchases:
        rows = [
            {"order_id": order, "placed_at": e.occurred_at, **_dims(e.payload)}
            for order, e in purchases.items()
        ]
        statement = pg_insert(orders).values(rows)
        await conn.execute(statement.on_conflict_do_nothing(index_elements=["order_id"]))
    wanted = {e.payload.order_id for e in events if isinstance(e.payload, Refund)} - set(purchases)
    known: dict[str, dict[str, str | None]] = {}
    if remember and wanted:
        found = await conn.execute(
            select(orders.c.order_id, orders.c.business_line, orders.c.channel, orders.c.store_id).where(
                orders.c.order_id.in_(wanted)
            )
        )
        known = {
            row.order_id: {
                "business_line": row.business_line,
                "channel": row.channel,
                "store_id": row.store_id,
            }
            for row in found
        }
    sales = []
    for event in events:
        payload, at = event.payload, event.occurred_at.timestamp()
        if not isinstance(payload, Purchase | Refund):
            continue
        if isinstance(payload, Purchase):
            sales.append(Sale(False, payload.customer_id, at, _dims(payload)))
            continue
        order = purchases.get(payload.order_id)
        dims = _dims(order.payload) if order is not None else known.get(payload.order_id)
        if dims is None:
            dims = {"business_line": None, "channel": None, "store_id": None}
        if payload.business_line:
            dims = {**dims, "business_line": payload.business_line}
        sales.append(Sale(True, payload.customer_id, at, dims))
    return sales


async def forget_orders(conn: AsyncConnection, now: datetime, limit: int = 5000) -> int:
    """Forgets purchases older than ORDER_MEMORY, a bounded number per call."""
    result = await conn.execute(_FORGET, {"before": now - ORDER_MEMORY, "limit": limit})
    return int(result.rowcount or 0)
