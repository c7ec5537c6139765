"""Column helpers shared by the models."""

from datetime import UTC, date, datetime, time

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator

# Ids of the tables that grow without bound (orders, ledger, sessions, idempotency keys): 64-bit on
# PostgreSQL; on SQLite an INTEGER PRIMARY KEY, which is its 64-bit rowid (BIGINT would not be).
BigId = BigInteger().with_variant(Integer, "sqlite")
# The largest id each kind of key holds: a larger one in a URL, a query or a form names no row, and sent to
# the database it is an overflow error (PostgreSQL's INTEGER is 32-bit, SQLite's and BIGINT 64-bit).
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1

# The UTC days the app filters and pages by. Every order falls inside, and a day's arithmetic either side
# (the end of `until` is the next day's midnight; a report's default start is weeks before its end) stays
# within what Python's dates and both databases hold.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
EARLIEST = datetime.combine(FIRST_DAY, time.min, tzinfo=UTC)
LATEST = datetime.combine(LAST_DAY, time.max, tzinfo=UTC)

# The last item of the __table_args__ of every table whose ids other rows or clients remember (users, products,
# orders, ledger rows, sessions, idempotency keys): an id is never given out twice. SQLite's INTEGER PRIMARY KEY
# without AUTOINCREMENT hands the largest deleted id to the next row, and a new account would inherit a deleted
# one's orders, refunds and sales; PostgreSQL's sequences never go back.
NEVER_REUSED = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def in_schema_of(dialect_name: str):
    """Alembic's include_object for a database of `dialect_name`: an index built for PostgreSQL only
    (a GIN trigram index, say) is not part of the schema on SQLite."""

    def include(obj, name, type_, reflected, compare_to):
        postgresql_only = type_ == "index" and obj.dialect_options["postgresql"]["using"]
        return not (postgresql_only and dialect_name != "postgresql")

    return include
