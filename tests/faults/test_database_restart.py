"""PostgreSQL restarted and stopped under load (a throw-away cluster of the test's own): every answer
is the outcome or a 503 with Retry-After, never a 500; every deposit retried with its key is applied
exactly once; the books balance afterwards. With the database stopped, every route answers 503 (JSON
on the API, the friendly page on the web), /livez stays up and /readyz says why."""

import re
import threading
import time
import uuid

import pytest

import config
from app import create_app
from app.extensions import db
from tests.deploy.conftest import Processes, http, server_env, start_gunicorn
from tests.faults.conftest import Shop, free_port

BUYERS = 4


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def shop_on_cluster(cluster):
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=cluster.url, CACHE_VERSIONS=None)
    yield Shop(app, cluster.url)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_deposits_through_restarts_and_an_outage_are_applied_exactly_once(cluster, shop_on_cluster, processes):
    shop = shop_on_cluster
    buyers = [shop.account("buyer") for _ in range(BUYERS)]
    port = free_port()
    start_gunicorn(processes, "app", port, server_env(cluster.url, GUNICORN_PRELOAD="0"), workers=2)
    base = f"http://127.0.0.1:{port}/api/v1"
    statuses: list[int] = []
    applied = {buyer.id: [] for buyer in buyers}  # the keys each buyer was told were applied
    stop = threading.Event()
    problems: list = []

    def keep_depositing(buyer):
        while not stop.is_set():
            key = uuid.uuid4().hex
            headers = {"Authorization": f"Bearer {buyer.token}", "Idempotency-Key": key}
            replies = []
            while True:
                status, head, body = http("POST", f"{base}/deposit", {"coin": 5}, headers, timeout=10)
                statuses.append(status)
                if status == 503 and not head.get("Retry-After"):
                    problems.append(("503 without Retry-After", body))
                if status not in (0, 200, 503):
                    problems.append((status, body))
                if status == 200:
                    replies.append(body)
                    if len(replies) == 2:  # the answer, then its replay: both the same
                        if replies[0]["deposit"] != replies[1]["deposit"] and head.get("Idempotent-Replayed"):
                            problems.append(("replay differs", replies))
                        applied[buyer.id].append(key)
                        break
                    continue
                time.sleep(0.1)

    threads = [threading.Thread(target=keep_depositing, args=(buyer,)) for buyer in buyers]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    cluster.restart()
    time.sleep(1.5)
    cluster.stop()
    time.sleep(2)
    cluster.start()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(60)

    assert not problems, problems[:5]
    assert statuses.count(503) >= 1, "the outage was never seen: the test proved nothing"
    assert 500 not in statuses
    for buyer in buyers:
        keys = applied[buyer.id]
        assert len(keys) >= 3, statuses
        deposit = shop.sql("SELECT deposit FROM users WHERE id = :id", id=buyer.id)
        coins = shop.sql("SELECT count(*) FROM ledger_entries WHERE kind = 'coin_inserted' AND user_id = :id",
                         id=buyer.id)
        assert (deposit, coins) == (5 * len(keys), len(keys))
    assert shop.audit_is_clean()


def test_with_the_database_stopped_every_route_answers_503_and_livez_stays_up(cluster, shop_on_cluster):
    shop = shop_on_cluster
    buyer = shop.account("buyer")
    web = shop.app.test_client()
    login_page = web.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)
    form = {"username": shop.sql("SELECT username FROM users WHERE id = :id", id=buyer.id),
            "password": "correct-horse-1", **({"csrf_token": token.group(1)} if token else {})}
    assert web.post("/login", data=form).status_code == 302
    cluster.stop()

    answers = {}
    for rule in shop.app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith(("/api/docs", "/bootstrap", "/api/openapi")):
            continue
        path = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            headers = {"Authorization": f"Bearer {buyer.token}"} if path.startswith("/api") else {}
            client = shop.client if path.startswith("/api") else web
            response = client.open(path, method=method, headers=headers, json={} if method != "GET" else None)
            answers[f"{method} {path}"] = response
            assert response.status_code != 500, (method, path, response.get_data(as_text=True)[:300])
            if response.status_code == 503:
                assert response.headers["Retry-After"], (method, path)
                if path.startswith("/api"):
                    assert response.get_json()["code"] == 503
                elif not response.is_json:  # the health checks answer JSON too
                    assert "back in a moment" in response.get_data(as_text=True), (method, path)

    for needs_the_database in ("GET /api/v1/products", "GET /api/v1/users/me", "POST /api/v1/deposit",
                               "POST /api/v1/buy", "GET /", "GET /machine"):
        assert answers[needs_the_database].status_code == 503, needs_the_database
    login = shop.client.post("/api/v1/auth/login", json={"username": form["username"], "password": form["password"]})
    assert (login.status_code, login.headers["Retry-After"]) == (503, "5")
    assert answers["GET /livez"].status_code == 200
    assert answers["GET /readyz"].status_code == 503
    assert answers["GET /readyz"].get_json()["database"] == "unreachable"
    cluster.start()
    assert shop.client.get("/readyz").status_code == 200
