"""Engine set-up: pool sizes, liveness checks of pooled connections, SQLite pragmas and BEGIN IMMEDIATE."""

import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def engine_options(url: str, *, pool_size: int, max_overflow: int, pool_timeout: float) -> dict:
    """SQLALCHEMY_ENGINE_OPTIONS for `url`. The pool is per worker process and shared by its threads."""
    # hide_parameters: a statement's values (token digests, password hashes) never reach a log or a traceback
    if url.startswith("sqlite"):
        return {"hide_parameters": True}
    return {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout, "hide_parameters": True}


def configure_engine(engine: Engine, *, ping_after_idle: float = 0) -> None:
    _ping_idle_connections(engine, ping_after_idle)
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Write transactions ask for IMMEDIATE (app.data.transactions): the write lock before the first read.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _ping_idle_connections(engine: Engine, after_idle: float) -> None:
    """Ping a pooled connection before use when it has rested `after_idle` seconds or more.

    A connection dropped while it rested in the pool (database restart, idle timeout, failover) is
    replaced before a request sees it, as pool_pre_ping would do; one handed back a moment ago by
    the previous request is not pinged again, which saves a round trip per request of a busy
    worker. Connections broken while in use are discarded by SQLAlchemy's disconnect handling.
    """

    @event.listens_for(engine, "checkin")
    def _note_rest(_dbapi_connection, record):
        if record is not None:
            record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection, record, _proxy):
        rested_since = record.info.get("rested_since")
        if rested_since is not None and time.monotonic() - rested_since < after_idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the pooled connection is gone") from error
