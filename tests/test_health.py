"""GET /livez (the process answers), GET /readyz and its older name /healthz (the database takes a
committed write; Redis is reported, degraded when it does not answer, but never makes the server unready)."""

import shutil
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest
import redis

import config
from app import create_app
from app.extensions import db
from app.models import HealthCheck

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def make_app():
    made = []

    def make(**overrides):
        app = create_app(config.TestConfig(), **overrides)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_ready_when_the_database_takes_a_write(app, client, path):
    response = client.get(path)

    redis_state = "ok" if (app.config["CACHE_VERSIONS"] or "").startswith("redis://") else "not configured"
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "database": "ok",
                                                                  "redis": redis_state})
    assert response.headers["Cache-Control"] == "no-store"
    assert db.session.get(HealthCheck, 1) is not None  # the write it made


def test_not_ready_but_alive_when_the_database_does_not_answer(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB,
                   SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})
    client = app.test_client()

    ready, alive = client.get("/readyz"), client.get("/livez")

    assert (ready.status_code, ready.get_json()) == (503, {"status": "unavailable", "database": "unreachable",
                                                           "redis": "not configured"})
    assert ready.headers["Retry-After"] == "5"
    assert ready.headers["X-Content-Type-Options"] == "nosniff"
    assert (alive.status_code, alive.get_json()) == (200, {"status": "ok"})


def test_redis_is_reported_when_the_app_uses_it_but_never_makes_the_server_unready(make_app, database_url,
                                                                                    _schema):
    down = make_app(SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_STORAGE_URI=UNREACHABLE_REDIS)
    up = make_app(SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")

    degraded = down.test_client().get("/readyz")
    answered = up.test_client().get("/readyz")

    assert (degraded.status_code, degraded.get_json()) == (200, {"status": "degraded", "database": "ok",
                                                                 "redis": "unreachable"})
    if answered.get_json()["redis"] == "unreachable":
        pytest.skip("no Redis on 127.0.0.1:6379 here")
    assert (answered.status_code, answered.get_json()) == (200, {"status": "ok", "database": "ok", "redis": "ok"})


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz"])
def test_health_is_get_only(client, path):
    response = client.post(path)
    assert response.status_code == 405 and response.get_json()["code"] == 405
    assert "GET" in response.headers["Allow"]


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of this test's own on a free loopback port: `stop()` ends it, as an outage would."""
    redis_server_path = shutil.which("redis-server")
    if redis_server_path is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 (a fixed program and arguments)
        [redis_server_path, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
            time.sleep(0.05)
    client.close()

    def stop() -> None:
        process.terminate()
        process.wait(10)

    yield SimpleNamespace(url=f"redis://127.0.0.1:{port}/0", stop=stop)
    if process.poll() is None:
        stop()


@pytest.fixture
def app_on_redis(redis_server, app_config):
    """The app under test (requested after this) with its rate-limit counters and catalogue version in that Redis."""
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_server.url,
                      CACHE_VERSIONS=redis_server.url, LOGIN_RATE_LIMIT="3 per minute")
    return redis_server


def test_with_redis_stopped_every_request_works_and_the_server_stays_ready(app_on_redis, app, client, make_account,
                                                                           set_tubes):
    """Redis holds the rate-limit counters and the catalogue's version; with it gone, counters fall back to each
    process and the catalogue is read from the database. /readyz reports Redis but stays 200: a 503 from every
    app server at once (they share one Redis) would take the whole service out of rotation."""
    seller, buyer = make_account("seller", "sally"), make_account("buyer", "bob")
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    created = client.post("/api/v1/products", json={"productName": "Cola", "cost": 35, "amountAvailable": 5},
                          headers={"Authorization": f"Bearer {seller.token}"})
    assert created.status_code == 201
    assert [p["productName"] for p in client.get("/api/v1/products").get_json()] == ["Cola"]  # cached now
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok", "redis": "ok"}

    app_on_redis.stop()

    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (200, {"status": "degraded", "database": "ok",
                                                           "redis": "unreachable"})
    assert "Retry-After" not in ready.headers
    renamed = client.patch(f"/api/v1/products/{created.get_json()['id']}", json={"productName": "Cola Zero"},
                           headers={"Authorization": f"Bearer {seller.token}"})
    assert renamed.status_code == 200
    assert [p["productName"] for p in client.get("/api/v1/products").get_json()] == ["Cola Zero"]
    assert "Cola Zero" in client.get("/").get_data(as_text=True)
    money = {"Authorization": f"Bearer {buyer.token}"}
    assert client.post("/api/v1/deposit", json={"coin": 50}, headers=money).status_code == 200
    bought = client.post("/api/v1/buy", json={"productId": created.get_json()["id"]}, headers=money)
    assert (bought.status_code, bought.get_json()["change"]) == (200, [10, 5])
    attempts = [client.post("/api/v1/auth/login", json={"username": "bob", "password": "not-bobs-password"})
                for _ in range(5)]
    assert [a.status_code for a in attempts] == [401, 401, 401, 429, 429]  # counted in this process instead
    assert attempts[-1].get_json()["code"] == 429 and int(attempts[-1].headers["Retry-After"]) >= 1
