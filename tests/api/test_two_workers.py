"""Two workers, one database, one version board: a write answered by worker B must show in worker
A's very next answer, although A keeps its own copy of the catalogue; a token ended on B is refused
by A at once (tokens are never cached). A is the `app` fixture, B a second app instance on the same
database and board; each request runs in its own app context (its own database session), as in a
real worker."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

import config
from app import create_app
from app.data.cache import ReadCache, RedisVersions
from app.extensions import db
from app.services import sessions
from tests.api.conftest import assert_401
from tests.factories import make_product
from tests.sqltrace import recorded_sql

API = "/api/v1"
CATALOGUE = f"{API}/products"
ME = f"{API}/users/me"


@dataclass
class Worker:
    """One app instance standing for one worker process, with its own ReadCache."""

    app: Flask
    client: FlaskClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.app.test_client()

    @property
    def cache(self) -> ReadCache:
        return self.app.extensions["read_cache"]

    def call(self, method: str, path: str, who=None, json=None):
        """One request as `who` (an account or a bare token), in an app context of its own."""
        token = who if isinstance(who, str) else getattr(who, "token", None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.app.app_context():
            return self.client.open(path, method=method, headers=headers, json=json)

    @contextmanager
    def sql(self) -> Iterator[list[str]]:
        """The statements this worker sends to the database inside the block."""
        with self.app.app_context():
            engine = db.engine
        with recorded_sql(engine) as seen:
            yield seen


@pytest.fixture
def a(app) -> Worker:
    if app.extensions.get("read_cache") is None:
        pytest.skip("TEST_CACHE_VERSIONS=off: no read cache to check")
    return Worker(app)


@pytest.fixture
def b(app) -> Iterator[Worker]:
    other = create_app(
        config.TestConfig(),
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CACHE_VERSIONS=app.config["CACHE_VERSIONS"],
        CACHE_KEY_PREFIX=app.config["CACHE_KEY_PREFIX"],
    )
    yield Worker(other)
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
    cache = other.extensions.get("read_cache")
    if cache is not None and isinstance(cache.board, RedisVersions):
        cache.board.redis.close()


def ok(response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json if response.data else None


def warm(worker: Worker, path: str = CATALOGUE):
    """Ask until `worker` keeps its own copy of the catalogue, then prove the copy is what it serves:
    the last answer needs no SQL at all. Returns that answer's body."""
    for _ in range(2):
        ok(worker.call("GET", path))
    with worker.sql() as sql:
        body = ok(worker.call("GET", path))
    assert sql == [], f"{path} was not answered from the worker's copy: {sql}"
    return body


def shelf(worker: Worker) -> dict[str, tuple[int, int]]:
    """The catalogue as `worker` answers it: product name -> (cost, amount available)."""
    response = worker.call("GET", CATALOGUE)
    products = ok(response)
    assert json.loads(response.headers["X-Pagination"])["total"] == len(products), "total cached with the page"
    return {p["productName"]: (p["cost"], p["amountAvailable"]) for p in products}


def deposit(worker: Worker, who, *coins: int) -> None:
    for coin in coins:
        ok(worker.call("POST", f"{API}/deposit", who, {"coin": coin}))


def second_token(account) -> str:
    """Another session of the same account (opened before any copy is warmed)."""
    return sessions.open_session(account.id, kind="api", ttl_seconds=3600, idle_seconds=3600,
                                 user_agent="second", client_address=None).token


# --- the catalogue --------------------------------------------------------------------------------


def test_price_stock_and_new_products_from_b_show_on_a(a, b, seller, cola):
    """Every seller edit bumps the catalogue: A drops its cached page at once."""
    warm(a)
    ok(b.call("PATCH", f"{API}/products/{cola.id}", seller, {"cost": 50}))
    assert shelf(a) == {"Cola": (50, 10)}

    warm(a)
    ok(b.call("PUT", f"{API}/products/{cola.id}", seller, {"productName": "Cola", "cost": 50, "amountAvailable": 4}))
    assert shelf(a) == {"Cola": (50, 4)}

    warm(a)
    ok(b.call("POST", CATALOGUE, seller, {"productName": "Tea", "cost": 25, "amountAvailable": 2}), 201)
    assert shelf(a) == {"Cola": (50, 4), "Tea": (25, 2)}


def test_a_purchase_on_b_shows_the_lower_stock_on_a(a, b, buyer, cola):
    """Stock drops with every sale; A must not offer units B has sold."""
    deposit(b, buyer, 50, 20)
    warm(a)

    ok(b.call("POST", f"{API}/buy", buyer, {"productId": cola.id, "amount": 2}))

    assert shelf(a) == {"Cola": (35, 8)}


def test_a_product_deleted_on_b_leaves_a_catalogue(a, b, seller, cola):
    make_product(seller, product_name="Tea", cost=25, amount_available=2)
    warm(a)

    ok(b.call("DELETE", f"{API}/products/{cola.id}", seller), 204)

    assert shelf(a) == {"Tea": (25, 2)}


def test_a_seller_deleted_on_b_takes_their_products_off_a(a, b, seller, other_seller, cola):
    """Deleting a seller takes their products off sale with a bulk UPDATE, not a flush."""
    make_product(other_seller, product_name="Water", cost=25, amount_available=2)
    warm(a)

    ok(b.call("DELETE", f"{API}/users/{seller.id}", seller))

    assert shelf(a) == {"Water": (25, 2)}


def test_a_refused_purchase_on_b_bumps_nothing(a, b, buyer, cola, set_tubes, db_snapshot):
    """A purchase refused for want of change rolls back (after writing the buyer and the product,
    as buy() does): nothing is bumped, so A's copy is still served without SQL."""
    set_tubes({})
    deposit(b, buyer, 50)
    catalogue = warm(a)
    before = db_snapshot()

    refused = b.call("POST", f"{API}/buy", buyer, {"productId": cola.id, "amount": 1})

    assert refused.status_code == 409 and "change" in refused.json["message"]
    assert db_snapshot() == before
    with a.sql() as sql:
        assert ok(a.call("GET", CATALOGUE)) == catalogue
    assert sql == []


# --- tokens, never cached ---------------------------------------------------------------------------------


def test_logout_on_b_ends_the_token_on_a(a, b, buyer):
    """A logged-out token must stop working everywhere at once."""
    ok(a.call("GET", ME, buyer))

    ok(b.call("POST", f"{API}/auth/logout", buyer), 204)

    assert_401(a.call("GET", ME, buyer))


def test_logout_all_on_b_ends_every_token_on_a(a, b, buyer):
    other = second_token(buyer)
    ok(a.call("GET", ME, buyer))
    ok(a.call("GET", ME, other))

    assert ok(b.call("POST", f"{API}/auth/logout/all", buyer)) == {"revoked": 2}

    assert_401(a.call("GET", ME, buyer))
    assert_401(a.call("GET", ME, other))


def test_a_password_change_on_b_ends_the_other_sessions_on_a(a, b, buyer):
    """Changing a password is how a user throws out a thief: the thief's token must die on every worker."""
    other = second_token(buyer)
    ok(a.call("GET", ME, buyer))
    ok(a.call("GET", ME, other))

    ok(b.call("PATCH", f"{API}/users/{buyer.id}", buyer, {"currentPassword": buyer.password,
                                                            "password": "a-new-password-2"}))

    assert_401(a.call("GET", ME, other))
    assert ok(a.call("GET", ME, buyer))["id"] == buyer.id  # the session that changed it goes on


def test_an_account_deleted_on_b_is_refused_on_a(a, b, buyer, seller):
    """The deleted account's tokens die on A; other users go on."""
    ok(a.call("GET", ME, buyer))
    ok(a.call("GET", ME, seller))

    ok(b.call("DELETE", f"{API}/users/{buyer.id}", buyer))

    assert_401(a.call("GET", ME, buyer))
    assert ok(a.call("GET", ME, seller))["id"] == seller.id


# --- /users/me ------------------------------------------------------------------------------------


def test_coins_moving_on_b_show_in_me_on_a(a, b, buyer, seller):
    """Deposit, buy and reset each change the balance /users/me shows; A must show it at once."""
    juice = make_product(seller, product_name="Juice", cost=100, amount_available=5)
    assert ok(a.call("GET", ME, buyer))["deposit"] == 0

    deposit(b, buyer, 100)
    assert ok(a.call("GET", ME, buyer))["deposit"] == 100

    ok(a.call("GET", ME, buyer))
    ok(b.call("POST", f"{API}/buy", buyer, {"productId": juice.id, "amount": 1}))
    assert ok(a.call("GET", ME, buyer))["deposit"] == 0

    deposit(b, buyer, 50, 50)
    assert ok(a.call("GET", ME, buyer))["deposit"] == 100
    assert ok(b.call("POST", f"{API}/reset", buyer))["change"] == [50, 50]
    assert ok(a.call("GET", ME, buyer))["deposit"] == 0


# --- races ----------------------------------------------------------------------------------------


@contextmanager
def racing(worker: Worker, table: str, other: Worker, method: str, path: str, who, json=None) -> Iterator[list]:
    """Inside the block, the first time `worker` reads `table` (its database snapshot is taken, what
    it read is not stored yet), `other` answers the request `method path`; yields [its status]."""
    done: list = []

    def after_read(conn, cursor, statement, *args):
        if f"FROM {table}" in statement and not done:
            done.append(other.call(method, path, who, json).status_code)

    with worker.app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", after_read)
    try:
        yield done
    finally:
        event.remove(engine, "after_cursor_execute", after_read)


def test_a_price_change_racing_a_catalogue_read_is_not_cached_stale(a, b, seller, cola):
    """A copy is stored under the version read before the database: B's bump must outdate it."""
    warm(a)
    ok(b.call("PATCH", f"{API}/products/{cola.id}", seller, {"amountAvailable": 9}))  # A's copy is outdated

    with racing(a, "products", b, "PATCH", f"{API}/products/{cola.id}", seller, {"cost": 50}) as raced:
        shelf(a)

    assert raced == [200]
    assert shelf(a) == {"Cola": (50, 9)}


def test_a_logout_racing_a_first_token_check_is_not_cached_stale(a, b, buyer):
    """B's logout commits while A checks the token. Whatever A answers then, once B's answer is out
    the token must be refused on A."""
    with racing(a, "auth_sessions", b, "POST", f"{API}/auth/logout", buyer) as raced:
        a.call("GET", ME, buyer)

    assert raced == [204]
    assert_401(a.call("GET", ME, buyer))


def test_a_deposit_racing_a_token_check_is_not_cached_stale(a, b, buyer):
    """B's deposit commits while A checks the token: once B's answer is out A shows the new deposit."""
    with racing(a, "auth_sessions", b, "POST", f"{API}/deposit", buyer, {"coin": 100}) as raced:
        ok(a.call("GET", ME, buyer))

    assert raced == [200]
    assert ok(a.call("GET", ME, buyer))["deposit"] == 100
