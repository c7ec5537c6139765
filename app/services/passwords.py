"""argon2id password hashing, capped per worker process. Tests use a cheaper cost through configure(fast=True).

One argon2id computation (t=3, 64 MiB, 4 lanes) keeps every core of a small machine busy for a tenth of a
second or more. So that password checks can neither take all of a worker's threads nor starve the other
requests of CPU:

- at most `checks_at_once` computations run at once in a worker process; one more is refused at once
  (`Busy`: 503 with Retry-After, nothing changed) instead of queueing on a thread the other requests need;
- they run on a small pool of threads of their own with a lower CPU priority (nice 10, where the OS allows
  it; argon2's own threads inherit it), so the scheduler serves every other request first.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.services.errors import ServiceError

_DEFAULT = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HASHING_NICENESS = 10
BUSY_MESSAGE = "The machine is busy checking other passwords; please try again in a moment"


class Busy(ServiceError):
    """Every password slot of this worker is taken: try again shortly (503, Retry-After)."""

    http_status = 503


def _lower_priority() -> None:
    """Run this thread (and the threads argon2 starts from it) after everything else; Linux keeps a nice
    value per thread. Where that is not allowed the thread keeps its priority: the cap still holds."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (AttributeError, OSError):
        pass


class PasswordSlots:
    """At most `size` argon2 computations at once in this process, on threads of their own. Built lazily
    per process: a gunicorn worker forked from a preloaded master gets its own pool and count."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._slots = threading.BoundedSemaphore(self.size)
                    self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="argon2",
                                                    initializer=_lower_priority)
                    self._pid = os.getpid()
        return self._pool

    def run(self, func, *args):
        executor = self._executor()
        if not self._slots.acquire(blocking=False):
            raise Busy(BUSY_MESSAGE)
        try:
            return executor.submit(func, *args).result()
        finally:
            self._slots.release()


_state = {"hasher": _DEFAULT, "slots": PasswordSlots(1)}


def configure(fast: bool, checks_at_once: int = 1) -> None:
    _state["hasher"] = _FAST if fast else _DEFAULT
    if _state["slots"].size != checks_at_once:
        _state["slots"] = PasswordSlots(checks_at_once)


def hash_password(password: str) -> str:
    hasher = _state["hasher"]
    return _state["slots"].run(hasher.hash, password)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str, password: str) -> bool:
    return _state["slots"].run(_verify, _state["hasher"], password_hash, password)


_DUMMY_HASH: dict[str, str] = {}


def burn_time_for_unknown_user(password: str) -> None:
    """Verify against a dummy hash so an unknown username costs as much as a wrong password."""
    hasher = _state["hasher"]
    key = repr(hasher)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password("not-a-real-password")
    verify_password(_DUMMY_HASH[key], password)
