"""Recording the SQL an engine sends, to prove a read was (or was not) answered from a cache."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def recorded_sql(engine: Engine) -> Iterator[list[str]]:
    """The statements `engine` sends inside the block, with COMMIT and ROLLBACK (a list, filled in place)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    def commit(conn):
        seen.append("COMMIT")

    def rollback(conn):
        seen.append("ROLLBACK")

    listeners = [("before_cursor_execute", record), ("commit", commit), ("rollback", rollback)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


def of_kind(statements: list[str], *kinds: str) -> list[str]:
    """The statements starting with one of `kinds` (e.g. "SELECT", "UPDATE")."""
    return [s for s in statements if s.lstrip().upper().startswith(kinds)]
