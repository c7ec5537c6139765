"""The read cache's parts: the version boards (file and Redis), ReadCache, and the session events
that decide which versions a committed transaction bumps (app/services/cache.py)."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import delete, func, update

from app.extensions import db
from app.models import AuthSession, Product, User
from app.models._types import utcnow
from app.services import cache as read_cache
from app.services import vending
from app.services.cache import (
    ALL_USERS,
    CATALOGUE,
    FileVersions,
    ReadCache,
    RedisVersions,
    sessions_version,
    user_version,
)
from app.services.hotsql import HotStatement
from tests.factories import make_product
from tests.sqltrace import of_kind, recorded_sql

_board = os.environ.get("TEST_CACHE_VERSIONS", "")
REDIS_URL = _board if _board.startswith("redis://") else "redis://127.0.0.1:6379/15"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once
NAMES = (CATALOGUE, "user:1", "sessions:1", ALL_USERS)


# --- version boards -------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.skip(f"Redis is not answering at {REDIS_URL}: {error}")
    prefix = f"vending-test:{secrets.token_hex(6)}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass
class Storage:
    """Where a board keeps its versions. open() is one more worker on it; lose() is a Redis
    restart or the version file being deleted."""

    url: str
    prefix: str

    def open(self):
        return read_cache.version_board(self.url, self.prefix)

    def lose(self) -> None:
        if self.url.startswith("file://"):
            os.remove(self.url.removeprefix("file://"))
            return
        client = redis.Redis.from_url(self.url)
        keys = list(client.scan_iter(match=self.prefix + "*"))
        assert keys, "the board wrote nothing to Redis"
        client.delete(*keys)
        client.close()


@pytest.fixture(params=["file", "redis"])
def storage(request, tmp_path) -> Storage:
    if request.param == "file":
        return Storage(f"file://{tmp_path / 'versions'}", "")
    return Storage(REDIS_URL, request.getfixturevalue("redis_prefix"))


def each_version(board) -> dict[str, tuple]:
    return {name: board.read((name,)) for name in NAMES}


def test_version_board_picks_the_board_by_scheme(tmp_path):
    assert isinstance(read_cache.version_board(f"file://{tmp_path / 'v'}", "p:"), FileVersions)
    assert isinstance(read_cache.version_board("redis://127.0.0.1:6379/15", "p:"), RedisVersions)
    for url in ("memcached://127.0.0.1:11211", "http://127.0.0.1/versions", str(tmp_path / "v"), ""):
        with pytest.raises(ValueError, match="CACHE_VERSIONS"):
            read_cache.version_board(url, "p:")


def test_versions_are_stable_without_bumps(storage):
    """Reading versions changes nothing: a copy stays valid for as long as nobody writes."""
    first, second = storage.open(), storage.open()
    seen = each_version(first)

    assert each_version(first) == seen
    assert each_version(second) == seen
    assert first.read(NAMES) == second.read(NAMES)


def test_a_bump_changes_the_bumped_names_only(storage):
    board = storage.open()
    before = each_version(board)

    board.bump({"user:1"})
    after_one = each_version(board)
    board.bump({CATALOGUE, ALL_USERS})
    after_two = each_version(board)

    assert [name for name in NAMES if after_one[name] != before[name]] == ["user:1"]
    assert [name for name in NAMES if after_two[name] != after_one[name]] == [CATALOGUE, ALL_USERS]


def test_workers_see_each_others_bumps(storage):
    """Two workers (two board objects on one file, or on one Redis) share every bump."""
    worker_a, worker_b = storage.open(), storage.open()
    start = worker_a.read(NAMES)

    worker_b.bump({CATALOGUE})
    seen_by_a = worker_a.read(NAMES)
    assert seen_by_a != start and seen_by_a == worker_b.read(NAMES)

    worker_a.bump({"sessions:1"})
    seen_by_b = worker_b.read(NAMES)
    assert seen_by_b != seen_by_a and seen_by_b == worker_a.read(NAMES)


def test_versions_never_repeat_across_bumps(storage):
    board = storage.open()
    history = [board.read((CATALOGUE,))]
    for _ in range(20):
        board.bump({CATALOGUE})
        history.append(board.read((CATALOGUE,)))

    assert len(set(history)) == len(history)


def test_a_lost_board_never_gives_back_an_earlier_version(storage):
    """After a Redis restart or a deleted version file, no copy stored under an earlier version may
    be served again: every new version differs from all the ones handed out before (the file's
    random epoch, Redis's random values)."""
    worker_a = storage.open()
    earlier = {name: {worker_a.read((name,))} for name in NAMES}
    for name in NAMES:
        worker_a.bump({name})
        earlier[name].add(worker_a.read((name,)))

    storage.lose()
    worker_b = storage.open()  # a new worker (re-)creates the board

    for name in NAMES:
        assert worker_b.read((name,)) not in earlier[name]
        assert worker_a.read((name,)) == worker_b.read((name,)), "the old worker follows the new board"


def test_a_worker_never_validates_a_copy_against_a_deleted_version_file(tmp_path):
    path = tmp_path / "versions"
    cache = ReadCache(FileVersions(str(path)), max_age=10)
    cache.put("key", cache.versions(NAMES), "value")

    os.remove(path)

    assert cache.get("key", cache.versions(NAMES)) is None


def test_redis_workers_agree_on_a_lost_key(redis_prefix):
    """A key lost with a Redis restart is re-created once (SET NX): every worker then holds the same value."""
    worker_a, worker_b = RedisVersions(REDIS_URL, redis_prefix), RedisVersions(REDIS_URL, redis_prefix)
    before = worker_a.read(NAMES)

    Storage(REDIS_URL, redis_prefix).lose()
    after = worker_b.read(NAMES)

    assert worker_a.read(NAMES) == after
    assert all(old != new for old, new in zip(before, after, strict=True))


# --- ReadCache ------------------------------------------------------------------------------------


class FlakyBoard:
    """An in-memory board that fails while `failure` is set, and counts the reads it answers."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.reads = 0
        self.failure: Exception | None = None

    def read(self, names):
        self.reads += 1
        if self.failure:
            raise self.failure
        return tuple(self.counters.get(name, 0) for name in names)

    def bump(self, names):
        if self.failure:
            raise self.failure
        for name in names:
            self.counters[name] = self.counters.get(name, 0) + 1


@pytest.fixture
def clock(monkeypatch):
    """The cache module's monotonic clock, moved by hand (clock.now += seconds)."""
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(read_cache, "time", SimpleNamespace(monotonic=lambda: clock.now))
    return clock


def test_a_copy_is_served_only_under_its_exact_versions(tmp_path, clock):
    cache = ReadCache(FileVersions(str(tmp_path / "versions")), max_age=10)
    stored_under = cache.versions(NAMES)
    cache.put("key", stored_under, "value")

    assert cache.get("key", cache.versions(NAMES)) == "value"
    assert cache.get("other key", stored_under) is None
    assert cache.get("key", None) is None
    cache.put("key", None, "never stored")  # versions unknown: nothing is stored
    assert cache.get("key", stored_under) == "value"

    cache.bump({ALL_USERS})
    assert cache.get("key", cache.versions(NAMES)) is None
    assert cache.get("key", cache.versions((CATALOGUE,))) is None  # other names, other versions


def test_a_copy_older_than_max_age_is_not_served(tmp_path, clock):
    """Bounds the harm of a bump lost to an outage: no copy lives longer than max_age."""
    cache = ReadCache(FileVersions(str(tmp_path / "versions")), max_age=2)
    versions = cache.versions(NAMES)
    cache.put("key", versions, "value")

    clock.now += 1.9
    assert cache.get("key", versions) == "value"
    clock.now += 0.2
    assert cache.get("key", versions) is None

    cache.put("key", versions, "stored again")
    assert cache.get("key", versions) == "stored again"


def test_an_unreachable_redis_bypasses_the_cache():
    cache = ReadCache(RedisVersions(UNREACHABLE_REDIS, "vending-test:"), max_age=10)

    versions = cache.versions(NAMES)
    cache.put("key", versions, "value")
    cache.bump({CATALOGUE})  # a lost bump is logged, never raised into the request

    assert versions is None
    assert cache.get("key", versions) is None


@pytest.mark.parametrize("failure", [redis.ConnectionError("down"), OSError("version file gone")])
def test_an_outage_bypasses_the_cache_for_a_second_and_forgets_older_copies(clock, failure):
    """While the board is down nobody can bump, so a copy from before the outage may be stale
    even when the versions read afterwards are unchanged."""
    board = FlakyBoard()
    cache = ReadCache(board, max_age=10)
    before = cache.versions(NAMES)
    cache.put("key", before, "value")

    board.failure = failure
    assert cache.versions(NAMES) is None
    board.failure = None
    clock.now += 0.9
    assert cache.versions(NAMES) is None and board.reads == 2, "the board is not asked again within the second"

    clock.now += 0.2
    assert cache.versions(NAMES) == before
    assert cache.get("key", before) is None


def test_a_failed_bump_drops_this_workers_copies(clock):
    board = FlakyBoard()
    cache = ReadCache(board, max_age=10)
    versions = cache.versions(NAMES)
    cache.put("key", versions, "value")

    board.failure = redis.TimeoutError("slow")
    cache.bump({CATALOGUE})
    board.failure = None
    clock.now += 1.1

    assert cache.versions(NAMES) == versions, "the bump was lost"
    assert cache.get("key", versions) is None


def test_remember_loads_again_only_after_a_bump_of_its_names(app):
    cache = read_cache.current()
    if cache is None:
        pytest.skip("TEST_CACHE_VERSIONS=off")
    loads = []

    def load():
        loads.append(len(loads) + 1)
        return loads[-1]

    def value():
        return read_cache.remember(("test", 1), (CATALOGUE,), load)

    assert [value(), value()] == [1, 1]
    cache.bump({"user:1", ALL_USERS})
    assert value() == 1
    cache.bump({CATALOGUE})
    assert [value(), value()] == [2, 2]


@pytest.mark.parametrize("app_config", [{"CACHE_VERSIONS": UNREACHABLE_REDIS}])
def test_the_catalogue_answers_from_the_database_while_the_board_is_unreachable(app, client, seller):
    make_product(seller, product_name="Cola", cost=35, amount_available=3)

    with recorded_sql(db.engine) as sql:
        first = client.get("/api/v1/products")
        second = client.get("/api/v1/products")
    changed = client.patch(f"/api/v1/products/{first.json[0]['id']}", json={"cost": 50}, headers=seller.headers)
    third = client.get("/api/v1/products")

    assert app.extensions["read_cache"].versions((CATALOGUE,)) is None
    assert first.status_code == second.status_code == changed.status_code == third.status_code == 200
    assert [(p["productName"], p["cost"], p["amountAvailable"]) for p in first.json] == [("Cola", 35, 3)]
    assert second.json == first.json
    assert len(of_kind(sql, "SELECT")) >= 2, "each read went to the database"
    assert [(p["productName"], p["cost"]) for p in third.json] == [("Cola", 50)]


@pytest.mark.parametrize("app_config", [{"CACHE_VERSIONS": UNREACHABLE_REDIS}])
def test_tokens_are_checked_once_per_request_while_the_board_is_unreachable(app, client, buyer):
    """No board, nothing stored: a token check is the one indexed join, every time, and still ends
    with a logout at once."""
    counts = []
    for _ in range(2):
        with recorded_sql(db.engine) as sql:
            response = client.get("/api/v1/users/me", headers=buyer.headers)
        assert response.status_code == 200 and response.json["id"] == buyer.id
        counts.append(len([s for s in of_kind(sql, "SELECT") if "auth_sessions" in s]))

    assert counts == [1, 1]
    assert client.post("/api/v1/auth/logout", headers=buyer.headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=buyer.headers).status_code == 401


# --- which versions a commit bumps ----------------------------------------------------------------


@pytest.fixture
def cache(app):
    cache = read_cache.current()
    if cache is None:
        pytest.skip("TEST_CACHE_VERSIONS=off")
    return cache


@contextmanager
def bumped_names(cache: ReadCache, names: tuple[str, ...]) -> Iterator[set[str]]:
    """The subset of `names` whose versions changed inside the block."""
    db.session.rollback()
    before = {name: cache.versions((name,)) for name in names}
    changed: set[str] = set()
    yield changed
    changed.update(name for name in names if cache.versions((name,)) != before[name])


@pytest.fixture
def scene(app, buyer, seller):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=3)
    return SimpleNamespace(buyer=buyer, seller=seller, product_id=product.id)


def edit_product_row(s):
    db.session.get(Product, s.product_id).cost = 50
    return {CATALOGUE}


def bulk_update_products(s):
    db.session.execute(update(Product).where(Product.id == s.product_id).values(cost=50))
    return {CATALOGUE}


def edit_deposit(s):
    db.session.get(User, s.buyer.id).set_escrow({100: 1})
    return {user_version(s.buyer.id)}


def edit_role(s):
    db.session.get(User, s.buyer.id).role = "seller"
    return {user_version(s.buyer.id), sessions_version(s.buyer.id)}


def delete_user_row(s):
    db.session.delete(db.session.get(User, s.buyer.id))
    return {user_version(s.buyer.id), sessions_version(s.buyer.id)}


def delete_session_row(s):
    db.session.delete(db.session.get(AuthSession, s.seller.session_id))
    return {sessions_version(s.seller.id)}


def bulk_delete_sessions_of_one_user(s):
    db.session.execute(delete(AuthSession).where(AuthSession.user_id == s.seller.id),
                       execution_options={"changes_user": s.seller.id})
    return {sessions_version(s.seller.id)}


def bulk_update_one_user(s):
    db.session.execute(update(User).where(User.id == s.buyer.id).values(password_hash="x"),
                       execution_options={"changes_user": s.buyer.id})
    return {user_version(s.buyer.id), sessions_version(s.buyer.id)}


def bulk_update_users_unnamed(s):
    db.session.execute(update(User).values(username=func.upper(User.username)))
    return {ALL_USERS}


def bulk_update_sessions_unnamed(s):
    db.session.execute(update(AuthSession).values(expires_at=utcnow() + timedelta(hours=2)))
    return {ALL_USERS}


def core_update_of_one_users_money(s):
    db.session.execute(update(User.__table__).where(User.__table__.c.id == s.buyer.id).values(deposit=5),
                       execution_options={"changes_user": s.buyer.id, "keeps_sessions": True})
    return {user_version(s.buyer.id)}


def core_update_of_products_table(s):
    db.session.execute(update(Product.__table__).values(cost=50))
    return {CATALOGUE}


def hot_statement_on_users_unnamed(s):
    HotStatement(update(User.__table__).values(deposit=0)).execute({})
    return {ALL_USERS}


def hot_statement_on_one_users_money(s):
    HotStatement(update(User.__table__).where(User.__table__.c.id == s.buyer.id).values(deposit=0)).execute(
        {}, changes_user=s.buyer.id, keeps_sessions=True)
    return {user_version(s.buyer.id)}


def service_deposit(s):
    vending.deposit(s.buyer.actor, 100, max_deposit=10_000)
    return {user_version(s.buyer.id)}


def service_deposit_and_buy(s):
    vending.deposit(s.buyer.actor, 50, max_deposit=10_000)
    vending.buy(s.buyer.actor, s.product_id, 1, initial_float=20)
    return {user_version(s.buyer.id), CATALOGUE}


def neutral_touch(s):
    db.session.execute(update(AuthSession).values(last_seen_at=utcnow()),
                       execution_options={"read_cache_neutral": True})
    return set()


@pytest.mark.parametrize("write", [
    edit_product_row, bulk_update_products, edit_deposit, edit_role, delete_user_row, delete_session_row,
    bulk_delete_sessions_of_one_user, bulk_update_one_user, bulk_update_users_unnamed, bulk_update_sessions_unnamed,
    core_update_of_one_users_money, core_update_of_products_table, hot_statement_on_users_unnamed,
    hot_statement_on_one_users_money, service_deposit, service_deposit_and_buy, neutral_touch,
])
def test_a_commit_bumps_exactly_the_versions_it_touched(cache, scene, write):
    """Too few bumps serve stale copies; too many (a deposit bumping token checks, last_seen_at
    bumping anything) make the cache useless on the hot paths."""
    watched = (CATALOGUE, ALL_USERS, *(f(a.id) for a in (scene.buyer, scene.seller)
                                       for f in (user_version, sessions_version)))
    with bumped_names(cache, watched) as bumped:
        expected = write(scene)
        db.session.commit()

    assert bumped == expected


def test_a_rolled_back_transaction_bumps_nothing_then_or_later(cache, scene):
    """Names collected by a flush that is rolled back must not ride along with the next commit."""
    watched = (CATALOGUE, user_version(scene.buyer.id), user_version(scene.seller.id))
    with bumped_names(cache, watched) as bumped:
        edit_product_row(scene)
        db.session.flush()
        db.session.rollback()
    assert bumped == set()

    with bumped_names(cache, watched) as bumped:
        expected = edit_deposit(scene)
        db.session.commit()
    assert bumped == expected
