"""Helpers for the money-safety suite: real threads released together, and the audit."""

import threading
from dataclasses import dataclass

import pytest

from app.extensions import db
from app.services.audit import run_audit

# Enough PostgreSQL connections for every thread of the largest scenario (SQLite ignores this).
POOL = {"pool_size": 20, "max_overflow": 40, "pool_timeout": 60}


@pytest.fixture
def app_config():
    return {"SQLALCHEMY_ENGINE_OPTIONS": dict(POOL)}


@dataclass
class Reply:
    status: int
    json: dict | list | None
    headers: dict[str, str]


@pytest.fixture
def run_concurrently(app):
    """Run each job(client) in its own thread, all released at once by a barrier.

    Every thread has its own test client, so every request pushes its own app context and
    Flask-SQLAlchemy gives it its own session and connection.
    """

    def run(jobs, timeout: float = 120) -> list[Reply]:
        barrier = threading.Barrier(len(jobs))
        replies: list[Reply | BaseException | None] = [None] * len(jobs)

        def worker(index, job):
            client = app.test_client()
            try:
                barrier.wait(timeout=30)
                response = job(client)
                replies[index] = Reply(response.status_code, response.get_json(silent=True), dict(response.headers))
            except BaseException as error:  # reported in the main thread
                replies[index] = error

        threads = [threading.Thread(target=worker, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in threads), "a request thread hung"
        errors = [r for r in replies if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        db.session.rollback()
        db.session.expire_all()
        return replies

    return run


@pytest.fixture
def assert_audit_clean(app):
    def check() -> None:
        db.session.rollback()
        report = run_audit()
        assert report.clean, report.render()

    return check


@pytest.fixture
def audit_may_fail():
    """Requested by tests that break the books on purpose; they check the audit themselves."""


@pytest.fixture(autouse=True)
def audit_after_each_test(request, app):
    """Whatever a safety test did (threads, fuzzing, hostile input), the books balance afterwards."""
    yield
    if "audit_may_fail" in request.fixturenames:
        return
    db.session.rollback()
    report = run_audit()
    assert report.clean, report.render()
