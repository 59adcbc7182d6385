"""Which PostgreSQL failures the aggregator retries, and which it pins on a record (no servers)."""

from __future__ import annotations

import asyncpg
import pytest

from services.aggregator.pgstore import _store_error


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence: 0x00"),
        asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape"),
        asyncpg.exceptions.NumericValueOutOfRangeError("out of range"),
        asyncpg.exceptions.CheckViolationError("no partition of relation found for row"),
        asyncpg.exceptions.NotNullViolationError("null value"),
        asyncpg.exceptions._base.DataError("invalid input for query argument $2"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_refused_value_is_a_record_error_never_retried(exc: Exception) -> None:
    error = _store_error(exc)
    assert error.record_error and not error.retryable


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError("down"),
        asyncpg.exceptions.QueryCanceledError("statement timeout"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_outage_is_retried_and_pinned_on_no_record(exc: Exception) -> None:
    error = _store_error(exc)
    assert error.retryable and not error.record_error


def test_a_missing_table_is_neither() -> None:
    error = _store_error(asyncpg.exceptions.UndefinedTableError("relation does not exist"))
    assert not error.retryable and not error.record_error
