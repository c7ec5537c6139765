"""Per-worker copies of hot reads (the catalogue, token checks), correct across workers and hosts.

Every cached value depends on named versions ("catalogue", "user:42", "sessions:42", "users") that all workers
share on a version board: a memory-mapped file for the app servers of one host, or Redis for
several hosts (CACHE_VERSIONS). A value is stored with the versions read *before* the database
read it came from, and served only while the board still holds those exact versions. Every
transaction that changes a product, a user or a session bumps the versions it touched right after
it commits (the session events below) and before its response is sent, so a client that saw a
write succeed never reads the old value afterwards, from any worker.

A version never comes back: Redis versions are random values (one lost with a Redis restart is
re-created with a new random value) and the file's counters only grow under a random epoch. When
the board cannot be read the cache is bypassed (every read goes to the database) for a second, and
copies older than CACHE_MAX_AGE_SECONDS are never served, which bounds the harm of a bump lost to
an outage. Without CACHE_VERSIONS there is no cache at all.
"""

import fcntl
import logging
import mmap
import os
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuthSession, Product, User

log = logging.getLogger(__name__)

CATALOGUE = "catalogue"
ALL_USERS = "users"
PENDING = "changed_versions"
RETRY_AFTER_OUTAGE = 1.0


def user_version(user_id: int) -> str:
    """The account's own data (deposit and escrow move with every coin)."""
    return f"user:{user_id}"


def sessions_version(user_id: int) -> str:
    """Whether the user's tokens are valid and who they act as: sessions opened or ended, role, deletion."""
    return f"sessions:{user_id}"


@dataclass(frozen=True)
class _Entry:
    versions: tuple
    stored_at: float
    value: Any


class RedisVersions:
    """Versions in Redis: shared by every worker of every app server (several hosts)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self.prefix = prefix

    def read(self, names: tuple[str, ...]) -> tuple:
        keys = [self.prefix + name for name in names]
        values = self.redis.mget(keys)
        if None in values:  # new, expired or lost with a Redis restart: start from a fresh random value
            with self.redis.pipeline() as pipe:
                for key, value in zip(keys, values, strict=True):
                    if value is None:
                        pipe.set(key, secrets.token_hex(8), nx=True)
                pipe.mget(keys)
                values = pipe.execute()[-1]
        return tuple(values)

    def bump(self, names: set[str]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            for name in sorted(names):
                pipe.set(self.prefix + name, secrets.token_hex(8))
            pipe.execute()


class FileVersions:
    """Versions in a memory-mapped file: shared by every worker of every app server on one host,
    with no network round trip. The file starts with a random epoch written when it is created;
    a worker re-opens the file when the path names another file (deleted and re-created), and the
    new epoch makes every older copy stale. Names share 65,536 counters by CRC-32: two names on
    one counter only cost extra misses."""

    SLOTS = 65_536
    HEADER = 8

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()  # flock is per open file, not per thread
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = self.HEADER + 8 * self.SLOTS
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            mapped = mmap.mmap(fd, size)
            if struct.unpack_from("<Q", mapped, 0)[0] == 0:
                struct.pack_into("<Q", mapped, 0, secrets.randbits(63) + 1)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._fd, self._map, self._inode, self._pid = fd, mapped, os.fstat(fd).st_ino, os.getpid()

    def _offset(self, name: str) -> int:
        return self.HEADER + 8 * (zlib.crc32(name.encode()) % self.SLOTS)

    def _locked(self, operation: int):
        # A forked worker opens the file itself: flock would not exclude processes sharing one open file.
        if os.getpid() != self._pid or os.stat(self.path).st_ino != self._inode:
            old_fd, old_map = self._fd, self._map
            self._open()
            old_map.close()
            os.close(old_fd)
        fcntl.flock(self._fd, operation)

    def read(self, names: tuple[str, ...]) -> tuple:
        with self._thread_lock:
            self._locked(fcntl.LOCK_SH)
            try:
                return tuple(struct.unpack_from("<Q", self._map, offset)[0]
                             for offset in (0, *map(self._offset, names)))
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def bump(self, names: set[str]) -> None:
        with self._thread_lock:
            self._locked(fcntl.LOCK_EX)
            try:
                for offset in {self._offset(name) for name in names}:
                    struct.pack_into("<Q", self._map, offset, struct.unpack_from("<Q", self._map, offset)[0] + 1)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


def version_board(url: str, prefix: str):
    """CACHE_VERSIONS: redis://... (several hosts) or file:///path (one host)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisVersions(url, prefix)
    if url.startswith("file://"):
        return FileVersions(url.removeprefix("file://"))
    raise ValueError(f"CACHE_VERSIONS must be a redis:// or file:// URL, not {url!r}")


class ReadCache:
    """One per app (i.e. per worker process); safe to share between a worker's threads."""

    def __init__(self, board, *, max_age: float, max_entries: int = 20_000) -> None:
        self.board = board
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: dict[Any, _Entry] = {}
        self._facts: dict[Any, Any] = {}
        self._down_until = 0.0
        self._lock = threading.Lock()

    def versions(self, names: tuple[str, ...]) -> tuple | None:
        """The current versions of `names`, or None when they cannot be read (do not use the cache)."""
        if time.monotonic() < self._down_until:
            return None
        try:
            return self.board.read(names)
        except (redis.RedisError, OSError) as error:
            self._outage(error)
            return None

    def bump(self, names: set[str]) -> None:
        """New versions for `names`: every copy that depended on them is stale from now on."""
        try:
            self.board.bump(names)
        except (redis.RedisError, OSError) as error:
            self._outage(error)

    def get(self, key, versions: tuple | None):
        """The value stored under `key` with exactly these versions and not too old, else None."""
        if versions is None:
            return None
        entry = self._entries.get(key)
        if entry is None or entry.versions != versions or time.monotonic() - entry.stored_at > self.max_age:
            return None
        return entry.value

    def put(self, key, versions: tuple | None, value) -> None:
        if versions is None:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(versions, time.monotonic(), value)

    def fact(self, key):
        """A remembered value that can never change (e.g. which user a token belongs to)."""
        return self._facts.get(key)

    def remember_fact(self, key, value) -> None:
        with self._lock:
            if len(self._facts) >= self.max_entries:
                self._facts.clear()
            self._facts[key] = value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _outage(self, error: Exception) -> None:
        log.warning("read cache bypassed: versions unavailable (%s)", error)
        self._down_until = time.monotonic() + RETRY_AFTER_OUTAGE
        self.clear()


def current() -> ReadCache | None:
    return current_app.extensions.get("read_cache")


def fresh_snapshot() -> None:
    """End the request's read transaction, so the next read sees every commit made before it.

    Versions must be read before the data they vouch for. PostgreSQL (read committed) reads the
    latest commits with every statement, but SQLite keeps the snapshot of a transaction's first
    read: data read in an older transaction could be older than versions read now. Only for read
    transactions (the token check's); never call it inside a write.
    """
    if not db.session.registry.has():
        return  # no session yet in this context, so no transaction either (and none is created just to ask)
    session = db.session()
    if session.in_transaction():
        session.rollback()


def remember(key, names: tuple[str, ...], load):
    """load()'s value, from this worker's copy while the versions `names` are unchanged."""
    cache = current()
    if cache is None:
        return load()
    fresh_snapshot()
    versions = cache.versions(names)
    value = cache.get(key, versions)
    if value is None:
        value = load()
        cache.put(key, versions, value)
    return value


def init_read_cache(app: Flask) -> None:
    url = app.config.get("CACHE_VERSIONS")
    if not url:
        return
    board = version_board(url, app.config["CACHE_KEY_PREFIX"])
    app.extensions["read_cache"] = ReadCache(board, max_age=app.config["CACHE_MAX_AGE_SECONDS"])
    global _listening  # the listeners are the Session class's, for the whole process, like this flag
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
    _listening = True


def _names_of(obj, deleted: bool) -> tuple[str, ...]:
    if isinstance(obj, Product):
        return (CATALOGUE,)
    if isinstance(obj, User):
        if deleted or inspect(obj).attrs.role.history.has_changes():
            return (user_version(obj.id), sessions_version(obj.id))
        return (user_version(obj.id),)
    if isinstance(obj, AuthSession):
        return (sessions_version(obj.user_id),)
    return ()


def _after_flush(session: Session, _flush_context) -> None:
    pending = session.info.setdefault(PENDING, set())
    for obj in (*session.new, *session.dirty):
        pending.update(_names_of(obj, deleted=False))
    for obj in session.deleted:
        pending.update(_names_of(obj, deleted=True))


_MODELS_BY_TABLE = {model.__table__: model for model in (Product, User, AuthSession)}


def _changed_model(state):
    """The model a DML statement writes to, whether it names the entity (ORM) or its table (Core)."""
    if state.bind_mapper is not None:
        return state.bind_mapper.class_
    return _MODELS_BY_TABLE.get(getattr(state.statement, "table", None))


def _do_orm_execute(state) -> None:
    """Statements bypass the flush: they report what they change here (see _note_change)."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    _note_change(state.session.info.setdefault(PENDING, set()), _changed_model(state), state.execution_options)


# Whether the session listeners below are on (init_read_cache): only then does a commit or rollback
# take the names a transaction noted out of the session again.
_listening = False


def pending_versions(session: Session) -> set | None:
    """Where a session's writes note the versions they change until its commit bumps them; None while
    the listeners are off, since nothing would take the names out again."""
    return session.info.setdefault(PENDING, set()) if _listening else None


def note_write(versions: set, table, options: dict) -> None:
    """A statement sent without the session (services.hotsql) reports the table it wrote to, as the
    session events report the others, into its transaction's `versions`."""
    _note_change(versions, _MODELS_BY_TABLE.get(table), options)


def _note_change(pending: set, model, options) -> None:
    """Products bump the catalogue; users and sessions bump the versions of the user named by the
    statement's `changes_user` option, or of every user when it names none (a user row changed with
    `keeps_sessions` changes the account's money, not whether its tokens are valid or who they act
    as); a statement marked `read_cache_neutral` changes nothing any cached value holds."""
    if model is None or options.get("read_cache_neutral"):
        return  # e.g. last_seen_at, which no cached value holds
    if model is Product:
        pending.add(CATALOGUE)
    elif model in (User, AuthSession):
        user_id = options.get("changes_user")
        if user_id is None:
            pending.add(ALL_USERS)
            return
        if model is User:
            pending.add(user_version(user_id))
        if not (model is User and options.get("keeps_sessions")):
            pending.add(sessions_version(user_id))


def bump_versions(names: set | None) -> None:
    """After a commit, before the response: every copy that depended on `names` is stale from now on."""
    if not names:
        return
    cache = current_app.extensions.get("read_cache") if current_app else None
    if cache is not None:
        cache.bump(names)


def _after_commit(session: Session) -> None:
    bump_versions(session.info.pop(PENDING, None))


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)
