"""GET /livez (the process answers), GET /readyz and its older name /healthz (the database takes a
committed write; Redis answers when it is configured)."""

import pytest

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


def test_redis_is_checked_when_the_app_uses_it(make_app, database_url, _schema):
    down = make_app(SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_STORAGE_URI=UNREACHABLE_REDIS)
    up = make_app(SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")

    refused = down.test_client().get("/readyz")
    answered = up.test_client().get("/readyz")

    assert (refused.status_code, refused.get_json()["redis"]) == (503, "unreachable")
    if answered.get_json()["redis"] == "unreachable":
        pytest.skip("no Redis on 127.0.0.1:6379 here")
    assert (answered.status_code, answered.get_json()["redis"]) == (200, "ok")


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz"])
def test_health_is_get_only(client, path):
    response = client.post(path)
    assert response.status_code == 405 and response.get_json()["code"] == 405
    assert "GET" in response.headers["Allow"]
