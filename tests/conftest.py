"""Fixture stack: database -> app -> client -> accounts of each role.

Tests run on a throw-away database: a SQLite file in a temporary folder, or, when
TEST_DATABASE_URL points at PostgreSQL, a database created for this run and dropped after it.
"""

import os
import secrets
from dataclasses import dataclass

import pytest
import redis
from sqlalchemy import text

import config
from app import create_app
from app.extensions import db
from app.services import machine, sessions, users
from app.services.policy import Actor
from tests.dbutil import throwaway_database
from tests.factories import snapshot


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    with throwaway_database(url, "vending_test") as test_url:
        yield test_url


@pytest.fixture(scope="session")
def is_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def _schema(database_url):
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def _wipe(is_pg: bool) -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if is_pg:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (table names from metadata)
            if conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))  # ids start again at 1, as RESTART IDENTITY does


@pytest.fixture
def app_config():
    """Overrides for the app under test; a test may update it before asking for `app`."""
    return {}


@pytest.fixture
def read_cache_config(tmp_path):
    """The whole suite runs with the read cache on, so every write-then-read checks its invalidation.

    TEST_CACHE_VERSIONS: unset -> a version file in the test's temporary folder; redis://... -> Redis
    under a prefix of this test's own, deleted afterwards; off -> no cache.
    """
    board = os.environ.get("TEST_CACHE_VERSIONS", "file")
    if board == "off":
        yield {"CACHE_VERSIONS": None}
        return
    if board == "file":
        yield {"CACHE_VERSIONS": f"file://{tmp_path / 'versions'}"}
        return
    prefix = f"vending-test:{secrets.token_hex(6)}:"
    yield {"CACHE_VERSIONS": board, "CACHE_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(board, socket_timeout=1)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # Redis was down for this test: nothing was written
    finally:
        client.close()


@pytest.fixture
def app(database_url, _schema, is_postgres, read_cache_config, app_config):
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=database_url,
                     **{**read_cache_config, **app_config})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            _wipe(is_postgres)
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Account:
    id: int
    username: str
    password: str
    role: str
    token: str
    session_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.role, self.session_id)


@pytest.fixture
def make_account(app):
    counter = {"n": 0}

    def make(role: str = "buyer", username: str | None = None, password: str = "correct-horse-1") -> Account:
        counter["n"] += 1
        username = username or f"{role}{counter['n']}"
        user = users.register(username, password, role, allow_admin=True)
        login = sessions.open_session(user.id, kind="api", ttl_seconds=3600,
                                      idle_seconds=app.config["SESSION_IDLE_TIMEOUT_SECONDS"],
                                      user_agent="pytest", client_address=None)
        return Account(user.id, username, password, role, login.token, login.session_id)

    return make


@pytest.fixture
def buyer(make_account):
    return make_account("buyer", "buyer")


@pytest.fixture
def other_buyer(make_account):
    return make_account("buyer", "other_buyer")


@pytest.fixture
def seller(make_account):
    return make_account("seller", "seller")


@pytest.fixture
def other_seller(make_account):
    return make_account("seller", "other_seller")


@pytest.fixture
def admin(make_account):
    return make_account("admin", "operator")


@pytest.fixture
def set_tubes(app):
    """Set the machine's tubes, e.g. set_tubes({5: 1, 50: 1}); kinds not named are emptied."""

    def set_(counts: dict[int, int]) -> None:
        full = {coin: counts.get(coin, 0) for coin in (5, 10, 20, 50, 100)}
        machine.set_tubes(Actor(0, "admin"), full, initial_float=app.config["INITIAL_FLOAT"])

    return set_


@pytest.fixture
def db_snapshot(app):
    """Call to capture balances, stock, tubes, orders and ledger; compare two captures."""
    return snapshot


@pytest.fixture
def fresh_database_url(tmp_path):
    """An empty database for servers started by a test: PostgreSQL when TEST_DATABASE_URL says so, else SQLite."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'served.db'}"
        return
    with throwaway_database(url, "vending_served") as served_url:
        yield served_url
