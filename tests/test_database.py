"""Pooled connections are pinged before use once they have rested, and replaced when they are gone."""

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.data.outages import CONNECTION_LOST
from app.data.transactions import write_transaction
from app.extensions import db
from app.models import LedgerEntry, User
from app.services import vending


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


@pytest.mark.parametrize(("app_config", "pings_per_request"), [
    ({"DB_PING_AFTER_IDLE_SECONDS": 3600, "CACHE_VERSIONS": None}, 0),  # handed back a moment ago
    ({"DB_PING_AFTER_IDLE_SECONDS": 0, "CACHE_VERSIONS": None}, 1),  # rested long enough
])
def test_a_connection_is_pinged_only_after_it_rested(app, client, pings, pings_per_request):
    serve_one_request(client)
    first = pings["n"]
    for _ in range(3):
        serve_one_request(client)
    assert first <= 1  # a brand-new connection may be pinged once
    assert pings["n"] == first + 3 * pings_per_request


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 0, "CACHE_VERSIONS": None}])
def test_a_connection_dropped_while_it_rested_is_replaced_before_a_request_sees_it(app, client, is_postgres):
    old_pid = drop_the_resting_connection(client, is_postgres)

    serve_one_request(client)
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != old_pid


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 3600, "CACHE_VERSIONS": None}])
def test_without_the_ping_a_read_on_a_dropped_connection_is_a_retryable_503(app, client, is_postgres):
    """The counter-proof for the test above: the ping is what saves the request. Without it the
    client is told to retry, and its retry gets a new connection."""
    drop_the_resting_connection(client, is_postgres)

    response = client.get("/api/v1/products")
    assert response.status_code == 503
    assert response.json == {"code": 503, "status": "Service Unavailable", "message": CONNECTION_LOST}
    assert response.headers["Retry-After"] == "1"
    db.session.remove()
    serve_one_request(client)


@pytest.mark.parametrize("app_config", [{"DB_PING_AFTER_IDLE_SECONDS": 3600, "CACHE_VERSIONS": None}])
def test_a_money_write_on_a_dropped_connection_runs_again_on_a_new_one(app, client, buyer, is_postgres, monkeypatch):
    """Lost before COMMIT, the transaction was rolled back by the server: running it again is safe."""
    drop_the_resting_connection(client, is_postgres)
    original, calls = vending._add_coin, {"n": 0}

    def counted(*args):
        calls["n"] += 1
        return original(*args)

    monkeypatch.setattr(vending, "_add_coin", counted)

    escrow = vending.deposit(buyer.actor, 100, max_deposit=1000)

    assert calls["n"] == 2  # the first attempt met the dropped connection
    assert escrow.deposit == 100
    assert db.session.get(User, buyer.id, populate_existing=True).deposit == 100
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def lose_the_commits(monkeypatch, times: int) -> dict:
    """The session's next `times` COMMITs fail as if the connection died before the answer came."""
    calls = {"n": 0}
    session = db.session()
    original = session.commit

    def commit():
        calls["n"] += 1
        if calls["n"] <= times:
            raise DBAPIError("COMMIT", {}, Exception("server closed the connection"), connection_invalidated=True)
        return original()

    monkeypatch.setattr(session, "commit", commit)
    return calls


def test_a_connection_lost_during_commit_is_not_run_again(app, buyer, monkeypatch):
    """The outcome of a COMMIT whose reply never came is unknown: the request fails (503) rather than
    risk applying it twice; an Idempotency-Key makes the client's retry safe."""
    db.session.commit()  # so the write's own COMMIT is the first one the patch meets
    calls = lose_the_commits(monkeypatch, times=1)

    with pytest.raises(DBAPIError):
        vending.deposit(buyer.actor, 100, max_deposit=1000)
    monkeypatch.undo()

    assert calls["n"] == 1
    assert db.session.get(User, buyer.id, populate_existing=True).deposit == 0
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_a_function_safe_to_run_twice_runs_again_after_a_lost_commit(app, buyer, monkeypatch):
    """What the idempotent wrapper relies on: its second run finds the first one's reply if it committed."""
    db.session.commit()
    calls = lose_the_commits(monkeypatch, times=1)
    runs = {"n": 0}

    @write_transaction(rerun_after_lost_commit=True)
    def deposit_once():
        runs["n"] += 1
        return vending.deposit(buyer.actor, 100, max_deposit=1000)

    escrow = deposit_once()
    monkeypatch.undo()

    assert (calls["n"], runs["n"], escrow.deposit) == (2, 2, 100)
    assert db.session.get(User, buyer.id, populate_existing=True).deposit == 100


def test_a_lost_connection_on_a_web_page_is_a_friendly_503_page(app, client, monkeypatch):
    def lost(**kwargs):
        raise DBAPIError("SELECT", {}, Exception("server closed the connection"), connection_invalidated=True)

    monkeypatch.setitem(app.view_functions, "home.catalogue", lost)
    response = client.get("/", headers={"Accept": "text/html"})

    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "The connection to the database was lost; please try again" in response.get_data(as_text=True)
    assert "Log out" not in response.get_data(as_text=True)  # the page needs no database to render
    assert response.headers["Retry-After"] == "1"


def test_any_other_database_error_is_still_a_500(app, client, monkeypatch):
    def broken(**kwargs):
        raise DBAPIError("SELECT", {}, Exception("syntax error"))

    monkeypatch.setitem(app.view_functions, "home.catalogue", broken)
    response = client.get("/", headers={"Accept": "application/json"})

    assert response.status_code == 500
    assert "Retry-After" not in response.headers
