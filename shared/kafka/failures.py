"""What kind of failure a handler's exception is, which decides whether the consumer retries or dead-letters.

Contract of `classify`:
- "transient": the world, not the event, failed (broker or database away, a connection dropped, a
  timeout, a serialization failure or deadlock). Retrying the same events later succeeds, so the
  consumer retries them with capped backoff for as long as it takes, and never dead-letters them.
- "deterministic": the event's own content makes the handler fail (a value out of range, a check,
  not-null or foreign-key violation, an arithmetic or validation error, a missing key). Retrying can
  never succeed, so the event goes to its topic's DLQ and the rest of its batch is applied.
- "unknown": anything else. The consumer isolates the failing event by splitting the batch, retries
  that one event a bounded number of times and then dead-letters it: an unrecognised error may stall
  one event for a while, never a partition for ever.

PostgreSQL errors are classified by SQLSTATE wherever one appears in the chain (SQLAlchemy wraps asyncpg,
which may wrap a Python OverflowError), since that is the database's own statement of the cause. Without
one, a deterministic exception anywhere in the chain (`raise X from cause`, SQLAlchemy's `orig`) wins over
a transient wrapper: BrokerUnavailable raised from MessageSizeTooLargeError is the record's fault.

A unique violation (23505, or an exclusion violation, 23P01) is deliberately "unknown": handlers here claim
event ids with ON CONFLICT DO NOTHING and upsert their rows, so one only arises from a race with another
writer of the same keys (a previous partition owner still applying after a rebalance, a replay), and a
retry sees the winner's row and succeeds; when it is genuinely the event's fault, the bounded retries still
end in the DLQ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import asyncpg
import sqlalchemy.exc
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)

from shared.kafka.producer import BrokerUnavailable

FailureKind = Literal["transient", "deterministic", "unknown"]

TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""Connection exception, transaction rollback (serialization failure, deadlock), insufficient resources,
operator intervention (shutdown, query cancelled by a statement timeout), system error."""
TRANSIENT_SQLSTATES = frozenset({"55P03"})  # lock_not_available (lock_timeout, NOWAIT)
DETERMINISTIC_SQLSTATE_CLASSES = frozenset({"22", "23"})  # data exception, integrity constraint violation
RACE_SQLSTATES = frozenset({"23505", "23P01"})  # unique, exclusion violation: see the module docstring

DETERMINISTIC_TYPES: tuple[type[BaseException], ...] = (
    ArithmeticError,  # OverflowError, ZeroDivisionError, decimal.InvalidOperation
    ValueError,  # includes pydantic's ValidationError and UnicodeError
    LookupError,  # KeyError, IndexError
    TypeError,
    sqlalchemy.exc.DataError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    OSError,
    BrokerUnavailable,
    KafkaConnectionError,
    KafkaTimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.TransactionRollbackError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # waiting for a pooled connection
    sqlalchemy.exc.DisconnectionError,
)


def classify(exc: BaseException) -> FailureKind:
    """Whether retrying the events that raised `exc` can succeed (see the module docstring)."""
    chain = list(_chain(exc))
    for link in chain:
        state = getattr(link, "sqlstate", None)
        if isinstance(state, str) and (kind := _by_sqlstate(state)) is not None:
            return kind
    if any(isinstance(link, DETERMINISTIC_TYPES) for link in chain):
        return "deterministic"
    if any(_is_transient(link) for link in chain):
        return "transient"
    return "unknown"


def describe(exc: BaseException) -> str:
    """`Type: message`, the form the DLQ's `dlq.error` header and the logs carry."""
    return f"{type(exc).__name__}: {exc}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: SQLAlchemy's `orig` and explicit causes (not the implicit context of an
    exception raised while handling another, which says nothing about this one's cause)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        link = orig if isinstance(orig, BaseException) else link.__cause__


def _by_sqlstate(state: str) -> FailureKind | None:
    if state in RACE_SQLSTATES:
        return "unknown"
    if state[:2] in DETERMINISTIC_SQLSTATE_CLASSES:
        return "deterministic"
    if state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES:
        return "transient"
    return None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))
