"""One cap per worker process on the steps that cost a lot of CPU or memory for one request: argon2id
(app.services.passwords), judging a new password's strength with zxcvbn (app.services.users) and decoding a
product picture (app.services.images).

Each of them can keep a core busy for a tenth of a second or take tens of MiB, and a client can ask for them
at will (a login, a registration, an upload). So that they can neither take all of a worker's threads nor
starve the other requests:

- at most `at_once` of them run at once in a worker process (PASSWORD_CHECKS_PER_WORKER: half its threads);
  one more is refused at once (`Busy`: 503 with Retry-After, nothing changed) instead of queueing on a thread
  the other requests need;
- they run on a small pool of threads of their own with a lower CPU priority (nice 10, where the OS allows it;
  argon2's own threads inherit it), so the scheduler serves every other request first;
- a step that needs several of them (a password change: verify, judge, hash) takes one slot for all: `run`
  inside a slot runs at once, so a request never gets half way and then a 503.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from app.services.errors import ServiceError

NICENESS = 10
BUSY_MESSAGE = "The machine is busy with other requests; please try again in a moment"


class Busy(ServiceError):
    """Every slot for expensive work in this worker is taken: try again shortly (503, Retry-After)."""

    http_status = 503


_inside = threading.local()  # .slot is True on the pool's threads


def _lower_priority() -> None:
    """Run this thread (and the threads argon2 starts from it) after everything else; Linux keeps a nice
    value per thread. Where that is not allowed the thread keeps its priority: the cap still holds."""
    _inside.slot = True
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
    except (AttributeError, OSError):
        pass


class Slots:
    """At most `size` expensive computations at once in this process, on threads of their own. Built lazily
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
                    self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="expensive",
                                                    initializer=_lower_priority)
                    self._pid = os.getpid()
        return self._pool

    def run(self, func, *args):
        if getattr(_inside, "slot", False):
            return func(*args)  # already in a slot: the work it is part of holds it
        executor = self._executor()
        if not self._slots.acquire(blocking=False):
            raise Busy(BUSY_MESSAGE)
        try:
            return executor.submit(func, *args).result()
        finally:
            self._slots.release()


_state = {"slots": Slots(1)}


def configure(at_once: int) -> None:
    if _state["slots"].size != at_once:
        _state["slots"] = Slots(at_once)


def run(func, *args):
    """func(*args) in one of this worker's slots for expensive work, or Busy when none is free. Called from
    inside a slot, it runs at once in that slot."""
    return _state["slots"].run(func, *args)
