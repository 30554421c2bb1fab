"""Rollup cells: which cells a fact counts in, and the SQL that adds facts' counts to them or takes
them away again.

A cell is a day and a combination of at most ROLLUP_DEPTH dimensions with their values (`dims` names
the dimensions in canonical order, `v1` and `v2` hold the values, '' where none). Every fact counts in
one cell per combination: the all-dimensions-open cell, one per dimension and one per pair. A feedback
with several aspects counts once per aspect in the cells that name `aspect`, where `negative` is that
aspect's own polarity. What a fact contributes is written once, in SQL, and used for the incremental
deltas, for rebuilding every cell and for answering combinations deeper than the rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import Table, TextClause, text

from services.insights.models import (
    ALERT_COUNTS,
    FEEDBACK_COUNTS,
    alert_cells,
    alerts,
    feedback,
    feedback_cells,
)

ROLLUP_DEPTH = 2
FEEDBACK_DIMENSIONS = ("business_line", "channel", "region", "store_id", "tier", "aspect")
ALERT_DIMENSIONS = ("business_line", "channel", "region", "store_id", "tier", "level")


def _feedback_measures(per_aspect: bool) -> dict[str, str]:
    negative = "a.label = 'negative'" if per_aspect else "f.label = 'negative'"
    recurrent = "a.name = ANY(f.recurrent_aspects)" if per_aspect else "cardinality(f.recurrent_aspects) > 0"
    return {
        "volume": "1",
        "negative": f"({negative})::int",
        "csat_n": "(f.csat IS NOT NULL)::int",
        "csat_sum": "coalesce(f.csat, 0)",
        "csat_ok": "coalesce((f.csat >= 4)::int, 0)",
        "nps_n": "(f.nps IS NOT NULL)::int",
        "promoters": "coalesce((f.nps >= 9)::int, 0)",
        "detractors": "coalesce((f.nps <= 6)::int, 0)",
        "ces_n": "(f.ces IS NOT NULL)::int",
        "ces_sum": "coalesce(f.ces, 0)",
        "recurrent": f"({negative} AND {recurrent})::int",
    }


def _elapsed(until: str) -> str:
    return f"coalesce(round(extract(epoch FROM f.{until} - f.fired_at))::bigint, 0)"


ALERT_MEASURES = {
    "fired": "1",
    "acked": "(f.acknowledged_at IS NOT NULL)::int",
    "ack_seconds": _elapsed("acknowledged_at"),
    "ack_ok": "coalesce((f.acknowledged_at <= f.response_due_at)::int, 0)",
    "resolved": "(f.resolved_at IS NOT NULL)::int",
    "resolve_seconds": _elapsed("resolved_at"),
    "resolve_ok": "coalesce((f.resolved_at <= f.resolution_due_at)::int, 0)",
    "closed_ok": "coalesce((f.resolved_at <= f.closure_due_at)::int, 0)",
    "callbacks": "(f.callback_due_at IS NOT NULL)::int",
    "callbacks_done": "(f.callback_done_at IS NOT NULL)::int",
    "callbacks_on_time": "coalesce((f.callback_done_at <= f.callback_due_at)::int, 0)",
    "callback_promoters": "coalesce((f.callback_nps >= 9)::int, 0)",
    "callback_detractors": "coalesce((f.callback_nps <= 6)::int, 0)",
}


@dataclass(frozen=True)
class Facts:
    """One kind of fact with its rollup: the fact table, its key, dimensions and counts."""

    table: Table
    cells: Table
    key: str
    dimensions: tuple[str, ...]
    counts: tuple[str, ...]

    def groupings(self) -> list[tuple[str, ...]]:
        return [combo for size in range(ROLLUP_DEPTH + 1) for combo in combinations(self.dimensions, size)]

    def canonical(self, names: set[str]) -> tuple[str, ...]:
        return tuple(d for d in self.dimensions if d in names)

    def measures(self, per_aspect: bool) -> dict[str, str]:
        return _feedback_measures(per_aspect) if self.table is feedback else ALERT_MEASURES

    def delta(self, where: str) -> TextClause:
        """Adds `:sign` × the counts of the facts matching `where` to their cells (creating cells as
        needed). Rows are upserted in key order, so concurrent batches lock cells in the same order."""
        parts = self._parts(where)
        columns = ", ".join(self.counts)
        updates = ", ".join(f"{c} = cell.{c} + excluded.{c}" for c in self.counts)
        union = "\nUNION ALL\n".join(parts)
        return text(f"""
            INSERT INTO {self.cells.fullname} AS cell (dims, day, v1, v2, {columns})
            SELECT dims, day, v1, v2, {columns} FROM ({union}) AS d ORDER BY dims, day, v1, v2
            ON CONFLICT (dims, day, v1, v2) DO UPDATE SET {updates}
        """)  # noqa: S608 - built from the code's own names, never from input

    def recount(self, where: str) -> TextClause:
        """The cells of the facts matching `where` counted afresh (`:sign` 1): what the rollup must hold."""
        union = "\nUNION ALL\n".join(self._parts(where))
        return text(f"SELECT * FROM ({union}) AS d ORDER BY dims, day, v1, v2")  # noqa: S608 - as above

    def _parts(self, where: str) -> list[str]:
        parts = [self._exploded(where, per_aspect=False)]
        if "aspect" in self.dimensions:
            parts.append(self._exploded(where, per_aspect=True))
        return parts

    def _exploded(self, where: str, per_aspect: bool) -> str:
        combos = [g for g in self.groupings() if ("aspect" in g) == per_aspect]
        keys = ", ".join(self._key_row(combo) for combo in combos)
        sums = ", ".join(
            f"sum(CAST(:sign AS int) * ({sql}))::bigint AS {name}"
            for name, sql in self.measures(per_aspect).items()
        )
        return f"""
            SELECT k.dims, f.day, k.v1, k.v2, {sums}
            FROM {self.table.fullname} AS f {self.aspect_join(per_aspect)}
            CROSS JOIN LATERAL (VALUES {keys}) AS k(dims, v1, v2)
            WHERE {where}
            GROUP BY k.dims, f.day, k.v1, k.v2
        """  # noqa: S608 - as above

    def _key_row(self, combo: tuple[str, ...]) -> str:
        values = [self.value_sql(d) for d in combo] + ["''"] * (ROLLUP_DEPTH - len(combo))
        return f"('{','.join(combo)}', {', '.join(values)})"

    @staticmethod
    def value_sql(dimension: str) -> str:
        return "a.name" if dimension == "aspect" else f"f.{dimension}"

    @staticmethod
    def aspect_join(per_aspect: bool) -> str:
        return "CROSS JOIN LATERAL unnest(f.aspects, f.aspect_labels) AS a(name, label)" if per_aspect else ""


FEEDBACK = Facts(feedback, feedback_cells, "feedback_id", FEEDBACK_DIMENSIONS, FEEDBACK_COUNTS)
ALERTS = Facts(alerts, alert_cells, "alert_id", ALERT_DIMENSIONS, ALERT_COUNTS)
