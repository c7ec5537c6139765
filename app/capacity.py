"""The database connection budget, checked when gunicorn starts (gunicorn_cfg.py's when_ready).

Each worker process has its own pool: it opens up to DB_POOL_SIZE + DB_MAX_OVERFLOW connections. With
APP_SERVERS app servers of the same shape the app may open

    workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW) x APP_SERVERS

connections, which must stay within PostgreSQL's max_connections less its superuser_reserved_connections.
max_connections is DB_MAX_CONNECTIONS when set (no round trip, and the only way when the app's role may not
see the server's settings), else asked of the server once, at start, on a connection of its own. Over budget,
the start goes on with a warning in the log: the pools rarely fill, and a refusal would take a working server
down over an estimate.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
DEFAULT_RESERVED = 3


@dataclass(frozen=True)
class Budget:
    workers: int
    per_worker: int
    servers: int
    max_connections: int
    reserved: int

    @property
    def wanted(self) -> int:
        return self.workers * self.per_worker * self.servers

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved

    @property
    def exceeded(self) -> bool:
        return self.wanted > self.available

    def explain(self) -> str:
        return (f"database connection budget exceeded: {self.workers} workers x {self.per_worker} connections "
                f"(DB_POOL_SIZE + DB_MAX_OVERFLOW) x {self.servers} app servers (APP_SERVERS) = {self.wanted}, "
                f"but PostgreSQL takes {self.available} ({self.max_connections} max_connections - {self.reserved} "
                f"reserved); lower DB_MAX_OVERFLOW, DB_POOL_SIZE or the workers, or raise max_connections")


def server_limits(url: str) -> tuple[int, int] | None:
    """(max_connections, superuser_reserved_connections) of the PostgreSQL server at `url`, or None."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            max_connections = int(conn.execute(text("SHOW max_connections")).scalar_one())
            reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        return max_connections, reserved
    except SQLAlchemyError as error:
        log.info("connection budget not checked: the database did not answer (%s)", error.__class__.__name__)
        return None
    finally:
        engine.dispose()


def check_connection_budget(config, workers: int) -> Budget | None:
    """The budget for `workers` workers per server under `config` (a Flask config mapping); logs a warning when
    it is exceeded. None for SQLite, or when max_connections is unknown."""
    url = config.get("SQLALCHEMY_DATABASE_URI") or ""
    if not url.startswith("postgresql"):
        return None
    if config.get("DB_MAX_CONNECTIONS"):
        limits = (config["DB_MAX_CONNECTIONS"], DEFAULT_RESERVED)
    else:
        limits = server_limits(url)
    if limits is None:
        return None
    budget = Budget(workers, config["DB_POOL_SIZE"] + config["DB_MAX_OVERFLOW"], config.get("APP_SERVERS", 1),
                    *limits)
    if budget.exceeded:
        log.warning(budget.explain())
    return budget
