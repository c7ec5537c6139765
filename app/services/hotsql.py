"""The money path's statements, compiled once per database and handed straight to the driver.

Measured on the bench machine, SQLAlchemy's execution layer costs more CPU per statement than the
driver itself, and psycopg's cursor layer costs about as much again as the libpq call it makes. A
HotStatement is a Core construct compiled once per dialect; each call binds its parameters with the
column types' own bind processors and runs on the DBAPI connection of the write transaction running
now (tx.writing(); outside one, the session's), so it commits or rolls back with everything else in
that transaction. Deposit and buy, whose statements are all HotStatements, run in a HotWrite: a
transaction on a pooled connection of its own, without the ORM session. On PostgreSQL
(psycopg) it is prepared by name once per connection and run with one libpq call (_Prepared); on
other databases it goes through the DBAPI cursor. Driver errors come out as SQLAlchemy's DBAPIError
subclasses, so write_transaction retries deadlocks exactly as before, and every write is reported
to the read cache the way the session events report other writes.
"""

import itertools
import weakref
from collections import namedtuple

import psycopg.errors as _errors
from psycopg import pq as _pq
from psycopg.adapt import PyFormat
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.services import cache, tx

Row = tuple  # rows come back as named tuples, with attributes named like the statement's columns

_IDLE = _pq.TransactionStatus.IDLE
_SUCCESS = (_pq.ExecStatus.COMMAND_OK, _pq.ExecStatus.TUPLES_OK)
_SQLSTATE = _pq.DiagnosticField.SQLSTATE
_TEXT = _pq.Format.TEXT


class _Compiled:
    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.compiled = compiled
        self.order = compiled.positiontup if compiled.positional else None
        self.bind_processors = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        columns = list(statement.exported_columns) if statement.exported_columns else []
        self.row = namedtuple("Row", [column.key for column in columns]) if columns else None
        self.result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self.dbapi_error = dialect.loaded_dbapi.Error
        self.dialect = dialect
        self.prepared = _Prepared(statement, dialect) if dialect.driver == "psycopg" else None

    def values(self, params: dict) -> dict:
        values = self.compiled.construct_params(params)
        for name, processor in self.bind_processors.items():
            values[name] = processor(values[name])
        return values

    def run(self, dbapi_connection, params: dict) -> list:
        """The raw rows the statement returns (none for a write without RETURNING)."""
        values = self.values(params)
        if self.prepared is not None and self.prepared.can_run_on(dbapi_connection):
            return self.prepared.run(dbapi_connection, values)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, values if self.order is None else tuple(values[name] for name in self.order))
            return cursor.fetchall() if self.row is not None else []
        finally:
            cursor.close()

    def make_row(self, raw):
        return self.row(*(
            value if processor is None else processor(value)
            for value, processor in zip(raw, self.result_processors, strict=True)
        ))


class _Prepared:
    """The statement as a named prepared statement of each psycopg connection, run with one libpq call.

    Parameters go in and values come out in text format, through the connection's own psycopg
    dumpers and loaders, so a row holds exactly what the cursor would have returned.
    """

    _numbers = itertools.count(1)

    def __init__(self, statement, dialect):
        numbered = statement.compile(dialect=type(dialect)(paramstyle="numeric_dollar"))
        self.sql = numbered.string.encode()
        self.order = numbered.positiontup
        self.name = b"vm_hot_%d" % next(self._numbers)

    @staticmethod
    def can_run_on(dbapi_connection) -> bool:
        """Inside a transaction, or where a plain BEGIN starts one as psycopg would (no isolation level,
        read-only or deferrable setting; those transactions are begun by the cursor, psycopg's way)."""
        if dbapi_connection.pgconn.transaction_status != _IDLE or dbapi_connection.autocommit:
            return True
        return (dbapi_connection.isolation_level, dbapi_connection.read_only, dbapi_connection.deferrable) == (
            None, None, None,
        )

    def run(self, dbapi_connection, values: dict) -> list:
        link = _Link.of(dbapi_connection)
        pgconn = dbapi_connection.pgconn
        if pgconn.transaction_status == _IDLE and not dbapi_connection.autocommit:
            link.check(pgconn.exec_(b"BEGIN"))
        link.prepare(pgconn, self.name, self.sql)
        dump = link.dump
        result = link.check(pgconn.exec_prepared(self.name, [dump(values[name]) for name in self.order]))
        if not result.nfields:
            return []
        loaders = link.row_loaders(self.name, result)
        get_value = result.get_value
        return [
            tuple(
                None if (value := get_value(row, column)) is None else load(value)
                for column, load in enumerate(loaders)
            )
            for row in range(result.ntuples)
        ]


class _Link:
    """What HotStatements keep per psycopg connection: the statements it has prepared, its dumpers and loaders."""

    _of: "weakref.WeakKeyDictionary[object, _Link]" = weakref.WeakKeyDictionary()

    def __init__(self, dbapi_connection):
        self.connection = weakref.ref(dbapi_connection)
        self.adapters = dbapi_connection.adapters
        self.encoding = dbapi_connection.info.encoding
        self.prepared: set[bytes] | None = set()  # None: unknown, read from the server before the next use
        self.dumpers: dict = {}  # by type, and by the key of a dumper upgraded for some values (psycopg's rule)
        self.loaders: dict[int, object] = {}
        self.loads: dict[bytes, list] = {}  # by statement: the load function of each column it returns

    @classmethod
    def of(cls, dbapi_connection) -> "_Link":
        link = cls._of.get(dbapi_connection)
        if link is None:
            link = cls._of[dbapi_connection] = cls(dbapi_connection)
        return link

    def prepare(self, pgconn, name: bytes, sql: bytes) -> None:
        """Prepare the statement on this connection unless it already is."""
        if self.prepared is None:
            names = self.check(pgconn.exec_(rb"SELECT name FROM pg_prepared_statements WHERE name LIKE 'vm\_hot\_%'"))
            self.prepared = {names.get_value(row, 0) for row in range(names.ntuples)}
        if name not in self.prepared:
            self.check(pgconn.prepare(name, sql))
            self.prepared.add(name)

    def dump(self, value) -> bytes | None:
        """The value in text format, by the dumper psycopg's own transformer would choose and keep."""
        kind = type(value)
        if kind is int:  # most parameters: the text form psycopg's int dumpers write too
            return b"%d" % value
        if value is None:
            return None
        dumper = self.dumpers.get(kind)
        if dumper is None:
            dumper = self.dumpers[kind] = self.adapters.get_dumper(kind, PyFormat.TEXT)(kind, self.connection())
        key = dumper.get_key(value, PyFormat.TEXT)
        if key is not kind:  # this value needs an upgraded dumper (a datetime with a time zone, say)
            upgraded = self.dumpers.get(key)
            if upgraded is None:
                upgraded = self.dumpers[key] = dumper.upgrade(value, PyFormat.TEXT)
            dumper = upgraded
        return dumper.dump(value)

    def loader(self, oid: int):
        loader = self.loaders.get(oid)
        if loader is None:
            loader_class = self.adapters.get_loader(oid, _TEXT) or self.adapters.get_loader(0, _TEXT)
            loader = self.loaders[oid] = loader_class(oid, self.connection())
        return loader

    def row_loaders(self, name: bytes, result) -> list:
        """The load function of each column of the statement `name` (its result's types never change)."""
        loads = self.loads.get(name)
        if loads is None:
            loads = self.loads[name] = [self.loader(result.ftype(column)).load for column in range(result.nfields)]
        return loads

    def check(self, result):
        """The result of a successful command, else the error psycopg's cursor would have raised."""
        if result.status in _SUCCESS:
            return result
        if result.error_field(_SQLSTATE) == b"26000":
            # Deallocated behind our back (DEALLOCATE ALL or DISCARD ALL sent on this connection, by a
            # pooler for instance; psycopg's own automatic preparation, which would, is off: app.database).
            # The transaction is aborted; write_transaction runs it again, which reads what is left.
            self.prepared = None
        raise _errors.error_from_result(result, encoding=self.encoding)


def _driver_error(write, statement: str, params, error: Exception) -> DBAPIError:
    """A driver error as SQLAlchemy would raise it; a lost connection is invalidated, as SQLAlchemy
    does, so the pool never hands it out again and write_transaction may run the write again."""
    dialect = write.dialect
    gone = dialect.is_disconnect(error, write.dbapi_connection, None)
    if gone:
        write.invalidate(error)
    return DBAPIError.instance(
        statement, params, error, dialect.loaded_dbapi.Error, dialect=dialect, connection_invalidated=gone
    )


class HotWrite:
    """A write transaction on a pooled driver connection of its own, without the ORM session.

    For deposit and buy, whose every statement is a HotStatement: the session's transaction objects,
    its pool checkout through a Connection and its commit machinery cost about as much CPU as the
    deposit's own statements (measured). Locks, statements and retries are those of any write
    transaction (tx.transactional); SQLite begins it with BEGIN IMMEDIATE, as it begins every write.
    """

    hot = True

    def __init__(self, engine) -> None:
        self.dialect = engine.dialect
        self.versions: set[str] = set()
        self.pooled = None
        try:
            self.pooled = engine.raw_connection()
        except self.dialect.loaded_dbapi.Error as error:
            gone = self.dialect.is_disconnect(error, None, None)
            raise DBAPIError.instance(
                None, None, error, self.dialect.loaded_dbapi.Error, dialect=self.dialect, connection_invalidated=gone
            ) from error
        self.dbapi_connection = self.pooled.dbapi_connection

    @classmethod
    def begin(cls) -> "HotWrite":
        tx.end_session_transaction()
        write = cls(db.engine)
        if write.dialect.name == "sqlite":
            try:
                write._send("BEGIN IMMEDIATE")
            except BaseException:
                write.rollback()  # the connection goes back to the pool; the caller may try again
                raise
        return write  # on PostgreSQL the first statement sends BEGIN (_Prepared.run)

    def _send(self, sql: str) -> None:
        try:
            cursor = self.dbapi_connection.cursor()
            try:
                cursor.execute(sql)
            finally:
                cursor.close()
        except self.dialect.loaded_dbapi.Error as error:
            raise _driver_error(self, sql, {}, error) from error

    def invalidate(self, error: BaseException) -> None:
        if self.pooled is not None:
            self.pooled.invalidate(error)  # gives the record back to the pool, without the connection
            self.pooled = None

    def commit(self) -> None:
        try:
            self.dbapi_connection.commit()
        except self.dialect.loaded_dbapi.Error as error:
            raise _driver_error(self, "COMMIT", {}, error) from error
        self._give_back()
        cache.bump_versions(self.versions)

    def rollback(self) -> None:
        if self.pooled is None:
            return
        try:
            self.dbapi_connection.rollback()
        except self.dialect.loaded_dbapi.Error as error:
            self.invalidate(error)
        self._give_back()

    def _give_back(self) -> None:
        if self.pooled is not None:
            self.pooled.close()
            self.pooled = None


def hot_write_transaction(func):
    """A write transaction on a HotWrite; it falls back to the session when the function needs it."""
    return tx.transactional(func, begin_hot=HotWrite.begin)


def _session_write() -> tx.SessionWrite:
    """The session's transaction, for a statement run outside any write transaction."""
    session = db.session()
    return tx.SessionWrite(session, session.connection())


class HotStatement:
    """A Core statement run on the current transaction's driver connection, without the ORM."""

    def __init__(self, statement):
        self.statement = statement
        self.table = getattr(statement, "table", None)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        return compiled

    def _run(self, params: dict, options: dict) -> tuple[_Compiled, list]:
        write = tx.writing() or _session_write()
        compiled = self._compiled(write.dialect)
        try:
            rows = compiled.run(write.dbapi_connection, params)
        except compiled.dbapi_error as error:
            raise _driver_error(write, compiled.sql, params, error) from error
        if self.table is not None and (versions := write.versions) is not None:
            cache.note_write(versions, self.table, options)
        return compiled, rows

    def execute(self, params: dict, **options) -> None:
        self._run(params, options)

    def first(self, params: dict, **options):
        """The first row returned (attributes named like the columns), or None."""
        compiled, rows = self._run(params, options)
        return compiled.make_row(rows[0]) if rows else None

    def all(self, params: dict, **options) -> list:
        compiled, rows = self._run(params, options)
        return [compiled.make_row(raw) for raw in rows]
