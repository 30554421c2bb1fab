"""Classifying handler failures: what the world broke is retried, what the event broke is dead-lettered."""

from __future__ import annotations

import decimal

import asyncpg
import pydantic
import pytest
import sqlalchemy.exc
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    UnknownTopicOrPartitionError,
)

from shared.kafka.failures import classify, describe
from shared.kafka.producer import BrokerUnavailable


def wrapped(sqlalchemy_error: type[sqlalchemy.exc.DBAPIError], orig: BaseException) -> BaseException:
    """As SQLAlchemy raises a driver error: the DBAPI error in `orig`, raised from it."""
    error = sqlalchemy_error("INSERT INTO loyalty.ledger ...", {}, orig)
    error.__cause__ = orig
    return error


def driver_error_from(cause: BaseException) -> BaseException:
    """asyncpg's error for an argument it cannot encode, raised from the Python error it hit."""
    error: BaseException = asyncpg.exceptions.DataError("invalid input for query argument $1: 3000000000")
    error.__cause__ = cause
    return error


def validation_error() -> pydantic.ValidationError:
    class Points(pydantic.BaseModel):
        points: int

    with pytest.raises(pydantic.ValidationError) as caught:
        Points.model_validate({"points": "many"})
    return caught.value


@pytest.mark.parametrize(
    "exc",
    [
        OverflowError("date value out of range"),
        ZeroDivisionError("order amount"),
        decimal.InvalidOperation(),
        ValueError("unknown tier"),
        KeyError("customer_id"),
        TypeError("unsupported operand"),
        validation_error(),
        asyncpg.exceptions.NumericValueOutOfRangeError("integer out of range"),
        wrapped(sqlalchemy.exc.DBAPIError, driver_error_from(OverflowError("value out of int32 range"))),
        wrapped(sqlalchemy.exc.DataError, asyncpg.exceptions.InvalidDatetimeFormatError("bad date")),
        wrapped(sqlalchemy.exc.IntegrityError, asyncpg.exceptions.CheckViolationError("points >= 0")),
        wrapped(sqlalchemy.exc.IntegrityError, asyncpg.exceptions.NotNullViolationError("tier")),
        wrapped(sqlalchemy.exc.IntegrityError, asyncpg.exceptions.ForeignKeyViolationError("member")),
        sqlalchemy.exc.DataError("SELECT", {}, Exception("no SQLSTATE")),
    ],
    ids=repr,
)
def test_failures_caused_by_the_events_content_are_deterministic(exc: BaseException):
    assert classify(exc) == "deterministic"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        TimeoutError(),
        OSError(113, "No route to host"),
        BrokerUnavailable("Kafka did not acknowledge the write"),
        KafkaConnectionError("broker went away"),
        UnknownTopicOrPartitionError(),  # retriable, says aiokafka: metadata still propagating
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        wrapped(sqlalchemy.exc.OperationalError, asyncpg.exceptions.CannotConnectNowError("starting up")),
        wrapped(sqlalchemy.exc.InterfaceError, asyncpg.exceptions.InterfaceError("connection is closed")),
        wrapped(sqlalchemy.exc.DBAPIError, asyncpg.exceptions.AdminShutdownError("terminating connection")),
        sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    ],
    ids=repr,
)
def test_failures_of_the_broker_or_database_are_transient(exc: BaseException):
    assert classify(exc) == "transient"


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("something odd"),
        AttributeError("'NoneType' object has no attribute 'tier'"),
        KafkaError("not retriable, says aiokafka"),
        asyncpg.exceptions.UndefinedTableError('relation "loyalty.ledger" does not exist'),
        # A race with another writer of the same keys: a retry sees its row (see shared.kafka.failures).
        wrapped(sqlalchemy.exc.IntegrityError, asyncpg.exceptions.UniqueViolationError("duplicate key")),
        asyncpg.exceptions.ExclusionViolationError("conflicting key value"),
    ],
    ids=repr,
)
def test_failures_nothing_vouches_for_are_unknown(exc: BaseException):
    assert classify(exc) == "unknown"


def test_a_deterministic_cause_wins_over_a_transient_wrapper():
    exc = BrokerUnavailable("Kafka did not acknowledge the write")
    exc.__cause__ = MessageSizeTooLargeError("a record of 2000000 bytes does not fit in a batch")  # `from`
    assert classify(exc) == "deterministic"


def test_an_error_merely_raised_while_handling_another_is_classified_on_its_own():
    exc = ConnectionResetError("database went away")
    exc.__context__ = KeyError("customer_id")  # raised in an `except KeyError:` block, not `from` it
    assert classify(exc) == "transient"


def test_the_sqlstate_decides_over_the_python_type():
    # asyncpg's client-side DataError is an InterfaceError (transient by type), but its SQLSTATE is 22000.
    exc = wrapped(sqlalchemy.exc.InterfaceError, driver_error_from(OverflowError("out of int64 range")))
    assert classify(exc) == "deterministic"


def test_describe_names_the_type_and_the_message():
    assert describe(OverflowError("value out of int32 range")) == "OverflowError: value out of int32 range"
