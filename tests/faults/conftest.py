"""The fault-injection suite: money requests retried with their Idempotency-Key through lost
connections, killed workers and a restarted database, on PostgreSQL.

Everything here drives the app through its HTTP API and checks the database with plain SQL and the
audit, so the same tests can be run against any version of the app.
"""

import os
import time
import uuid
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

import config
from app import create_app
from app.extensions import db
from app.services import audit, users
from tests.dbutil import throwaway_database
from tests.faults.pgproxy import PgProxy

API = "/api/v1"
PASSWORD = "correct-horse-1"


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("the fault suite runs on PostgreSQL (TEST_DATABASE_URL)")
    return url


def create_schema(url: str) -> None:
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()


@pytest.fixture
def fault_database(pg_server_url):
    with throwaway_database(pg_server_url, "vending_faults") as url:
        create_schema(url)
        yield url


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's; no encryption, so the proxy can read frames."""
    parsed = make_url(url).set(host="127.0.0.1", port=port)
    parsed = parsed.update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def proxy(pg_server_url):
    upstream = make_url(pg_server_url)
    proxy = PgProxy(upstream.port or 5432, upstream.host or "127.0.0.1")
    yield proxy
    proxy.close()


@dataclass
class Account:
    id: int
    token: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers


class Shop:
    """The app in this process, its database behind the proxy; a few shortcuts to set a scene."""

    def __init__(self, app: Flask, direct_url: str) -> None:
        self.app = app
        self.client = app.test_client()
        self.direct_url = direct_url

    def call(self, method: str, path: str, account: Account | None = None, json=None, key: str | None = None):
        headers = account.headers(key) if account else {}
        return self.client.open(f"{API}{path}", method=method, json=json, headers=headers)

    def ok(self, method: str, path: str, account: Account | None = None, json=None, status: int = 200):
        response = self.call(method, path, account, json)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def account(self, role: str) -> Account:
        name = f"{role}-{uuid.uuid4().hex[:8]}"
        with self.app.app_context():
            users.register(name, PASSWORD, role, allow_admin=True)
            db.session.remove()
        login = self.ok("POST", "/auth/login", json={"username": name, "password": PASSWORD})
        return Account(login["user"]["id"], login["token"])

    def sql(self, statement: str, **params):
        """A scalar read from the database (through the proxy, which passes it on when not armed)."""
        with self.app.app_context():
            try:
                return db.session.execute(text(statement), params).scalar()
            finally:
                db.session.remove()

    def audit_is_clean(self) -> bool:
        with self.app.app_context():
            try:
                report = audit.run_audit()
            finally:
                db.session.remove()
        assert report.clean, report.render()
        return True


def until_answered(send, attempts: int = 40, pause: float = 0.25):
    """`send()` again while it answers 503 (a client honouring Retry-After, faster); the last answer."""
    for _ in range(attempts):
        response = send()
        if response.status_code != 503:
            return response
        assert response.headers.get("Retry-After"), "a 503 must say when to retry"
        time.sleep(pause)
    return response


@pytest.fixture
def shop(fault_database, proxy):
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=through(fault_database, proxy.port),
                     CACHE_VERSIONS=None)
    yield Shop(app, fault_database)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
