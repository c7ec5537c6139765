"""Housekeeping: expired idempotency keys and sessions are deleted, a batch at a time.

`flask purge-expired` does it on demand (or from cron); the app also does it by itself, at most once
a minute per worker process, after a money request (see app.api.v1.idempotent), so the tables stay
bounded without an operator.
"""

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from app.data.transactions import Contention
from app.models.columns import utcnow
from app.services import idempotency, sessions

log = logging.getLogger(__name__)

BATCH = 500
EVERY_SECONDS = 60.0


class Purger:
    """When the last purge in this process ran; safe to share between a worker's threads."""

    def __init__(self, every_seconds: float = EVERY_SECONDS) -> None:
        self.every_seconds = every_seconds
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return False
            self._next = now + self.every_seconds
            return True

    def purge_if_due(self) -> None:
        """Best effort: a busy or unreachable database only postpones it."""
        if not self.due():
            return
        try:
            purge_expired()
        except (Contention, SQLAlchemyError) as error:
            log.warning("purge of expired keys and sessions postponed: %s", error.__class__.__name__)


def purge_expired(batch: int = BATCH) -> dict[str, int]:
    """Delete up to `batch` expired idempotency keys and as many expired sessions."""
    now = utcnow()
    return {
        "idempotency_keys": idempotency.purge_expired(now, batch=batch),
        "sessions": sessions.purge_expired(now, batch=batch),
    }
