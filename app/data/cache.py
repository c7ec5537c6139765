"""A per-worker copy of the public catalogue, correct across workers and hosts.

Only public data is cached: the catalogue, which anyone may list without signing in. Every
signed-in request is checked against the database, whatever this cache or Redis does.

Each copy is stored with the catalogue's version read *before* the database read it came from, and
served only while the version board still holds that version. Every transaction that changes a
product bumps the version right after it commits (the session events below) and before its response
is sent, so a client that saw its change succeed never reads the old catalogue afterwards, from any
worker. The board is Redis (CACHE_VERSIONS=redis://..., app servers on several hosts) or a
memory-mapped file (file:///..., one host). A version never comes back: it is a fresh random value
at every bump. When the board cannot be read the copies are bypassed for a second; a bump the board
could not take (Redis refusing writes, paused in a failover) cannot reach the other workers, so no
copy is ever served older than CACHE_MAX_AGE_SECONDS (5 s by default) either.
"""

import logging
import mmap
import os
import secrets
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Product

log = logging.getLogger(__name__)

CATALOGUE = "catalogue"
PENDING = "catalogue_changed"
RETRY_AFTER_OUTAGE = 1.0


class RedisVersions:
    """The version in Redis: shared by every worker of every app server (several hosts)."""

    def __init__(self, url: str, key: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self.key = key

    def read(self) -> bytes:
        value = self.redis.get(self.key)
        if value is None:  # new, or lost with a Redis restart: start from a fresh random value
            self.redis.set(self.key, secrets.token_hex(8), nx=True)
            value = self.redis.get(self.key)
        return value

    def bump(self) -> None:
        self.redis.set(self.key, secrets.token_hex(8))


class FileVersions:
    """The version in a memory-mapped file: shared by the workers of every app server on one host with
    no network round trip. A bump writes a fresh random 64-bit value; a worker re-opens the file when
    the path names another file (deleted and re-created)."""

    SIZE = 8

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        created = os.fstat(fd).st_size < self.SIZE
        if created:
            os.ftruncate(fd, self.SIZE)
        self._map = mmap.mmap(fd, self.SIZE)
        if created:  # never start from a value an earlier file held
            struct.pack_into("<Q", self._map, 0, secrets.randbits(64))
        self._inode = os.fstat(fd).st_ino
        os.close(fd)

    def _current(self) -> mmap.mmap:
        if os.stat(self.path).st_ino != self._inode:
            with self._lock:
                self._open()
        return self._map

    def read(self) -> int:
        return struct.unpack_from("<Q", self._current(), 0)[0]

    def bump(self) -> None:
        struct.pack_into("<Q", self._current(), 0, secrets.randbits(64))


def version_board(url: str, prefix: str):
    """CACHE_VERSIONS: redis://... (several hosts) or file:///path (one host)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisVersions(url, prefix + CATALOGUE)
    if url.startswith("file://"):
        return FileVersions(url.removeprefix("file://"))
    raise ValueError(f"CACHE_VERSIONS must be a redis:// or file:// URL, not {url!r}")


@dataclass(frozen=True)
class _Copy:
    version: Any
    stored_at: float
    value: Any


class ReadCache:
    """One per app (i.e. per worker process); safe to share between a worker's threads."""

    def __init__(self, board, *, max_age: float, max_entries: int = 2_000) -> None:
        self.board = board
        self.max_age = max_age
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._copies: dict[Any, _Copy] = {}
        self._down_until = 0.0
        self._lock = threading.Lock()

    def version(self):
        """The catalogue's current version, or None when it cannot be read (do not use the cache)."""
        if time.monotonic() < self._down_until:
            return None
        try:
            return self.board.read()
        except (redis.RedisError, OSError) as error:
            self._outage(error)
            return None

    def bump(self) -> None:
        """A new version: every copy read under the old one is stale from now on, in every worker."""
        try:
            self.board.bump()
        except (redis.RedisError, OSError) as error:
            self._outage(error)

    def get(self, key, version):
        """The copy stored under `key` with exactly this version and not too old, else None."""
        copy = self._copies.get(key) if version is not None else None
        if copy is None or copy.version != version or time.monotonic() - copy.stored_at > self.max_age:
            self.misses += 1
            return None
        self.hits += 1
        return copy.value

    def put(self, key, version, value) -> None:
        if version is None:
            return
        with self._lock:
            if len(self._copies) >= self.max_entries:
                self._copies.clear()
            self._copies[key] = _Copy(version, time.monotonic(), value)

    def _outage(self, error: Exception) -> None:
        log.warning("catalogue cache bypassed: version board unavailable (%s)", error)
        self._down_until = time.monotonic() + RETRY_AFTER_OUTAGE
        with self._lock:
            self._copies.clear()


def current() -> ReadCache | None:
    return current_app.extensions.get("read_cache")


def remember(key, load):
    """load()'s value, from this worker's copy while the catalogue's version is unchanged."""
    cache = current()
    if cache is None:
        return load()
    if db.session().in_transaction():
        # SQLite keeps a transaction's first snapshot: a read must start after the version is read.
        db.session.rollback()
    version = cache.version()
    value = cache.get(key, version)
    if value is None:
        value = load()
        cache.put(key, version, value)
    return value


def init_read_cache(app: Flask) -> None:
    url = app.config.get("CACHE_VERSIONS")
    if not url:
        return
    board = version_board(url, app.config["CACHE_KEY_PREFIX"])
    app.extensions["read_cache"] = ReadCache(board, max_age=app.config["CACHE_MAX_AGE_SECONDS"])
    if not event.contains(Session, "after_commit", _after_commit):  # the Session class's, once per process
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


def _after_flush(session: Session, _flush_context) -> None:
    if any(isinstance(obj, Product) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[PENDING] = True


def _do_orm_execute(state) -> None:
    """Statements bypass the flush: an INSERT, UPDATE or DELETE of products reports itself here."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    mapper = state.bind_mapper
    table = getattr(state.statement, "table", None)
    if (mapper is not None and mapper.class_ is Product) or table is Product.__table__:
        state.session.info[PENDING] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(PENDING, False):
        cache = current_app.extensions.get("read_cache") if current_app else None
        if cache is not None:
            cache.bump()


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)
