"""The catalogue's read cache (app/data/cache.py): the version boards, ReadCache, the session events
that bump the version, and what happens when Redis refuses or delays writes."""

import os
import secrets
import shutil
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import update

import config
from app import create_app
from app.data import cache as read_cache
from app.data.cache import FileVersions, ReadCache, RedisVersions, version_board
from app.extensions import db
from app.models import Product, User
from app.services import vending
from tests.factories import make_product

_board = os.environ.get("TEST_CACHE_VERSIONS", "")
REDIS_URL = _board if _board.startswith("redis://") else "redis://127.0.0.1:6379/15"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once
CATALOGUE = "/api/v1/products"


@pytest.fixture
def redis_key():
    """A key of this test's own in the shared Redis, deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.skip(f"Redis is not answering at {REDIS_URL}: {error}")
    key = f"vending-test:{secrets.token_hex(6)}:catalogue"
    yield key
    client.delete(key)
    client.close()


@pytest.fixture
def clock(monkeypatch):
    """The cache module's monotonic clock, moved by hand (clock.now += seconds)."""
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(read_cache, "time", SimpleNamespace(monotonic=lambda: clock.now))
    return clock


# --- version boards -------------------------------------------------------------------------------


def test_the_board_is_chosen_by_scheme(tmp_path):
    assert isinstance(version_board(f"file://{tmp_path / 'v'}", "p:"), FileVersions)
    assert isinstance(version_board("redis://127.0.0.1:6379/1", "p:"), RedisVersions)
    with pytest.raises(ValueError, match="redis:// or file://"):
        version_board("memcached://x", "p:")


def test_a_file_board_is_shared_and_a_bump_changes_it(tmp_path):
    one, other = FileVersions(str(tmp_path / "v")), FileVersions(str(tmp_path / "v"))
    first = one.read()
    assert other.read() == first == one.read()
    other.bump()
    assert one.read() == other.read() != first


def test_a_recreated_version_file_never_repeats_the_old_version(tmp_path):
    path = str(tmp_path / "v")
    board = FileVersions(path)
    before = board.read()
    os.unlink(path)
    assert FileVersions(path).read() != before
    assert board.read() != before  # the old worker re-opens the new file


def test_a_redis_board_is_shared_and_a_lost_key_starts_afresh(redis_key):
    one = RedisVersions(REDIS_URL, redis_key)
    other = RedisVersions(REDIS_URL, redis_key)
    first = one.read()
    assert other.read() == first
    other.bump()
    assert one.read() != first
    bumped = one.read()
    one.redis.delete(redis_key)  # a Redis restart without persistence
    assert other.read() == one.read() not in (first, bumped)


# --- ReadCache ------------------------------------------------------------------------------------


class FlakyBoard:
    """An in-memory board that fails while `failure` is set, and counts the reads it answers."""

    def __init__(self) -> None:
        self.version = 0
        self.reads = 0
        self.failure: Exception | None = None

    def read(self):
        self.reads += 1
        if self.failure:
            raise self.failure
        return self.version

    def bump(self):
        if self.failure:
            raise self.failure
        self.version += 1


def test_a_copy_is_served_only_under_its_exact_version(tmp_path, clock):
    cache = ReadCache(FileVersions(str(tmp_path / "v")), max_age=10)
    stored_under = cache.version()
    cache.put("key", stored_under, "value")

    assert cache.get("key", cache.version()) == "value"
    assert cache.get("other key", stored_under) is None
    assert cache.get("key", None) is None
    cache.put("key", None, "never stored")  # version unknown: nothing is stored
    assert cache.get("key", stored_under) == "value"
    cache.bump()
    assert cache.get("key", cache.version()) is None


def test_a_copy_older_than_max_age_is_not_served(tmp_path, clock):
    """Bounds the harm of a bump that could not be written: no copy lives longer than max_age."""
    cache = ReadCache(FileVersions(str(tmp_path / "v")), max_age=5)
    version = cache.version()
    cache.put("key", version, "value")

    clock.now += 4.9
    assert cache.get("key", version) == "value"
    clock.now += 0.2
    assert cache.get("key", version) is None


def test_an_unreachable_redis_bypasses_the_cache():
    cache = ReadCache(RedisVersions(UNREACHABLE_REDIS, "vending-test:catalogue"), max_age=10)

    version = cache.version()
    cache.put("key", version, "value")
    cache.bump()  # a lost bump is logged, never raised into the request

    assert version is None and cache.get("key", version) is None


@pytest.mark.parametrize("failure", [redis.ConnectionError("down"), OSError("version file gone")])
def test_an_outage_bypasses_the_cache_for_a_second_and_forgets_older_copies(clock, failure):
    board = FlakyBoard()
    cache = ReadCache(board, max_age=10)
    before = cache.version()
    cache.put("key", before, "value")

    board.failure = failure
    assert cache.version() is None
    board.failure = None
    clock.now += 0.9
    assert cache.version() is None and board.reads == 2, "the board is not asked again within the second"
    clock.now += 0.2
    assert cache.version() == before
    assert cache.get("key", before) is None


def test_the_default_maximum_age_is_five_seconds():
    assert config.Config().CACHE_MAX_AGE_SECONDS == 5


# --- what bumps the catalogue ----------------------------------------------------------------------


@pytest.fixture
def cache(app):
    cache = read_cache.current()
    if cache is None:
        pytest.skip("TEST_CACHE_VERSIONS=off: no read cache")
    return cache


def test_product_writes_bump_and_other_writes_and_rollbacks_do_not(app, cache, buyer, seller):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=3)
    before = cache.version()

    vending.deposit(buyer.actor, 50, max_deposit=1000)  # a user row: not the catalogue
    db.session.execute(update(User).where(User.id == buyer.id).values(username="renamed"))
    db.session.commit()
    assert cache.version() == before

    db.session.execute(update(Product.__table__).where(Product.__table__.c.id == product.id).values(cost=40))
    db.session.rollback()
    assert cache.version() == before

    db.session.execute(update(Product.__table__).where(Product.__table__.c.id == product.id).values(cost=40))
    db.session.commit()  # a Core statement through the session
    after_core = cache.version()
    assert after_core != before

    db.session.get(Product, product.id).cost = 45
    db.session.commit()  # an ORM flush
    assert cache.version() != after_core


def test_the_catalogue_is_served_from_the_database_while_the_board_is_unreachable(app, client, seller, monkeypatch):
    make_product(seller, product_name="Cola", cost=35, amount_available=3)
    app.extensions["read_cache"] = ReadCache(RedisVersions(UNREACHABLE_REDIS, "k"), max_age=5)

    first = client.get(CATALOGUE)
    make_product(seller, product_name="Tea", cost=25, amount_available=1)

    assert [p["productName"] for p in first.json] == ["Cola"]
    assert [p["productName"] for p in client.get(CATALOGUE).json] == ["Cola", "Tea"]


# --- Redis refusing or delaying writes (a throw-away redis-server of the test's own) ----------------


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server on a free loopback port, stopped afterwards: the test may break it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield SimpleNamespace(url=f"redis://127.0.0.1:{port}/0", client=client)
    finally:
        client.close()
        process.kill()
        process.wait(timeout=5)


def refuse_writes(client) -> None:
    """maxmemory with noeviction: every write is refused with OOM, reads go on."""
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)


def pause_writes(client) -> None:
    """CLIENT PAUSE WRITE, as in a failover: writes hang (past the board's timeout), reads go on."""
    client.execute_command("CLIENT", "PAUSE", 3000, "WRITE")


@pytest.fixture
def two_workers(app, own_redis):
    """Two app instances standing for two workers, their catalogue versions in the throw-away Redis."""
    settings = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "CACHE_VERSIONS": own_redis.url,
                "CACHE_KEY_PREFIX": f"t{secrets.token_hex(4)}:"}
    workers = [create_app(config.TestConfig(), **settings) for _ in range(2)]
    yield [SimpleNamespace(app=w, client=w.test_client()) for w in workers]
    for worker in workers:
        with worker.app_context():
            db.engine.dispose()


def call(worker, method, path, token=None, json=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with worker.app.app_context():
        return worker.client.open(path, method=method, headers=headers, json=json)


@pytest.mark.parametrize("fault", [refuse_writes, pause_writes], ids=["refusing writes", "paused"])
def test_a_token_ended_on_one_worker_is_refused_by_the_other_whatever_redis_does(two_workers, own_redis, buyer,
                                                                                  fault):
    a, b = two_workers
    assert call(a, "GET", "/api/v1/users/me", buyer.token).status_code == 200
    fault(own_redis.client)

    assert call(b, "POST", "/api/v1/auth/logout", buyer.token).status_code == 204

    for _ in range(5):
        assert call(a, "GET", "/api/v1/users/me", buyer.token).status_code == 401


@pytest.mark.parametrize("fault", [refuse_writes, pause_writes], ids=["refusing writes", "paused"])
def test_a_catalogue_copy_is_never_older_than_five_seconds_when_a_bump_is_lost(two_workers, own_redis, seller,
                                                                               monkeypatch, fault):
    a, b = two_workers
    product = make_product(seller, product_name="Cola", cost=35, amount_available=3)
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(read_cache, "time", SimpleNamespace(monotonic=lambda: clock.now))
    for _ in range(2):
        assert call(a, "GET", CATALOGUE).json[0]["cost"] == 35  # cached on A
    fault(own_redis.client)

    assert call(b, "PATCH", f"/api/v1/products/{product.id}", seller.token, {"cost": 50}).status_code == 200
    if fault is pause_writes:
        own_redis.client.execute_command("CLIENT", "UNPAUSE")  # reads must go on for A to use its copy

    clock.now += 4.9
    assert call(a, "GET", CATALOGUE).json[0]["cost"] in (35, 50)  # the lost bump: A may still hold its copy
    clock.now += 0.2
    assert call(a, "GET", CATALOGUE).json[0]["cost"] == 50  # never longer than five seconds
