"""The retention worker's errors: a step that failed, and whether trying again may help."""

from __future__ import annotations

import asyncpg

# Worth another try inside the same pass: a lock we did not get in time, a deadlock, a conflict.
RETRYABLE_SQLSTATES = frozenset({"55P03", "40P01", "40001", "57014"})


class StepFailed(RuntimeError):
    """A step (create, drop or delete on one table) gave up after its attempts this pass."""

    def __init__(self, step: str, table: str, cause: BaseException, attempts: int) -> None:
        super().__init__(
            f"{step} on {table} failed after {attempts} attempt(s): {type(cause).__name__}: {cause}"
        )
        self.step = step
        self.table = table
        self.cause = cause
        self.attempts = attempts


class ConnectionLost(RuntimeError):
    """The pass's PostgreSQL session is gone; the pass ends and the next one reconnects."""


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` is a transient database condition (lock timeout, deadlock, conflict)."""
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate in RETRYABLE_SQLSTATES


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(
        exc, OSError | TimeoutError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError
    )
