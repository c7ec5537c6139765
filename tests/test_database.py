"""Pooled connections are pinged before use once they have rested, and replaced when they are gone."""

import psycopg
import pytest
from sqlalchemy import text

from app.extensions import db


@pytest.fixture
def pings(app, monkeypatch):
    """The number of liveness pings the engine has sent so far."""
    count = {"n": 0}
    original = db.engine.dialect.do_ping

    def counting(dbapi_connection):
        count["n"] += 1
        return original(dbapi_connection)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counting)
    return count


def serve_one_request(client) -> None:
    """One catalogue read from the database (the read cache is off in these tests)."""
    response = client.get("/api/v1/products")
    assert response.status_code == 200 and response.json == []
    db.session.remove()  # as at the end of a real request (the test's own app context outlives it)


def drop_the_resting_connection(client, is_postgres: bool) -> int:
    """Serve a request, then end its pooled connection's backend while it rests; its old pid."""
    if not is_postgres:
        pytest.skip("needs a PostgreSQL server to drop the connection")
    serve_one_request(client)
    old_pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.remove()  # back to the pool, where it rests
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    return old_pid


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 3600, "CACHE_VERSIONS": None}])
def test_a_connection_handed_back_a_moment_ago_is_not_pinged_again(app, client, pings):
    serve_one_request(client)
    first = pings["n"]
    for _ in range(3):
        serve_one_request(client)
    assert first <= 1  # a brand-new connection may be pinged once
    assert pings["n"] == first


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 0, "CACHE_VERSIONS": None}])
def test_a_connection_that_rested_is_pinged_before_use(app, client, pings):
    serve_one_request(client)
    before = pings["n"]
    for _ in range(3):
        serve_one_request(client)
    assert pings["n"] == before + 3


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 0, "CACHE_VERSIONS": None}])
def test_a_connection_dropped_while_it_rested_is_replaced_before_a_request_sees_it(app, client, is_postgres):
    old_pid = drop_the_resting_connection(client, is_postgres)

    serve_one_request(client)
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != old_pid


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 3600, "CACHE_VERSIONS": None}])
def test_without_the_ping_a_dropped_connection_fails_its_request(app, client, is_postgres):
    """The counter-proof for the test above: the ping is what saves the request."""
    drop_the_resting_connection(client, is_postgres)

    assert client.get("/api/v1/products").status_code == 500
