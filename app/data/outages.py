"""What a database failure means for the client: an outage worth retrying (503), or a bug (500).

psycopg raises OperationalError for a connect that fails (refused, "the database system is shutting
down") without SQLAlchemy marking the connection invalidated, so both a lost connection and a failed
connect count as "database unavailable". A full disk or a read-only database is "storage
unavailable". In every case the transaction was rolled back by the database, so nothing is half done;
only a connection lost during COMMIT leaves the outcome unknown, which an Idempotency-Key resolves.
"""

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

DATABASE_UNAVAILABLE = "The database is unavailable; please try again shortly"
CONNECTION_LOST = (
    "The connection to the database was lost; please try again. A money request retried with the same "
    "Idempotency-Key returns its first outcome or runs once"
)
STORAGE_UNAVAILABLE = "Storage unavailable: the database cannot take writes right now; nothing was changed"

# PostgreSQL SQLSTATEs: disk full, out of memory, I/O error, read-only transaction (a standby, or
# default_transaction_read_only), and the classes of a server going away.
_STORAGE_SQLSTATES = {"53100", "53200", "58030", "25006"}
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57")
_STORAGE_SQLITE_ERRORS = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


@dataclass(frozen=True)
class Outage:
    kind: str  # "unavailable", "connection lost" or "storage unavailable"
    message: str
    retry_after: int


def sqlstate(error: DBAPIError) -> str | None:
    """The PostgreSQL error code of a driver error (psycopg's public `sqlstate`), else None."""
    return getattr(error.orig, "sqlstate", None)


def sqlite_error_name(error: DBAPIError) -> str:
    """The SQLite result code name (`SQLITE_BUSY`, ...) of a sqlite3 error, else ''."""
    return getattr(error.orig, "sqlite_errorname", None) or ""


def outage_of(error: SQLAlchemyError) -> Outage | None:
    """The 503 a database error deserves, or None when it is a bug."""
    if isinstance(error, PoolTimeout):
        return Outage("unavailable", DATABASE_UNAVAILABLE, 2)
    if not isinstance(error, DBAPIError):
        return None
    code = sqlstate(error) or ""
    if code in _STORAGE_SQLSTATES or sqlite_error_name(error).startswith(_STORAGE_SQLITE_ERRORS):
        return Outage("storage unavailable", STORAGE_UNAVAILABLE, 30)
    if error.connection_invalidated:
        return Outage("connection lost", CONNECTION_LOST, 1)
    if isinstance(error, (OperationalError, InterfaceError)) or code.startswith(_UNAVAILABLE_SQLSTATE_CLASSES):
        return Outage("unavailable", DATABASE_UNAVAILABLE, 5)
    return None
