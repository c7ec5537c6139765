"""Scale-out on this machine: two gunicorn servers on PostgreSQL, nginx in front, Redis for rate limits.

Hundreds of mixed requests go through nginx from 16 threads while one server is killed (SIGKILL) half-way.
Every answer must be well-formed JSON with a known status. Money requests carry an Idempotency-Key and
are retried with it after a 502/503/504, so each one's fate is known exactly (applied once, or not at
all); the database afterwards must match that record to the cent, and the audit must be clean.
"""

import itertools
import os
import secrets
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from tests.deploy.conftest import (
    GUNICORN,
    NGINX,
    http,
    migrate_database,
    redis_up,
    server_env,
    start_gunicorn,
    start_nginx,
    wait_until,
)

pytestmark = pytest.mark.slow

PORT_A, PORT_B, PORT_NGINX = 5201, 5202, 8088
A, B, EDGE = (f"http://127.0.0.1:{p}" for p in (PORT_A, PORT_B, PORT_NGINX))
API = "/api/v1"
FLOWS = 32
THREADS = 16
RETRYABLE = {0, 502, 503, 504}
RETRY_FOR = 60  # seconds a client keeps retrying one request
KNOWN = {200, 201, 204, 401, 409, 429, 502, 503, 504}
COST = 35
COINS_IN = (50, 20, 5)


def _why_skip() -> str | None:
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        return "needs PostgreSQL (TEST_DATABASE_URL)"
    if NGINX is None:
        return "needs nginx (.ci/run installs it)"
    if shutil.which("redis-server") is None or not redis_up():
        return "needs redis-server answering on 127.0.0.1:6379 (.ci/run installs and starts it)"
    if not GUNICORN.exists():
        return "needs gunicorn in the virtualenv"
    return None


@dataclass
class Record:
    """What every answer looked like, and what each buyer's money should be according to the answers."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: int = 0
    malformed: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)
    buyers: dict = field(default_factory=dict)  # username -> {"deposit": n, "orders": n}
    completed_flows: int = 0
    cut: list = field(default_factory=list)  # (started, method, path): exchanges broken off mid-way
    killed_at: float = float("inf")

    def note(self, method, path, status, body, started):
        with self.lock:
            self.answers += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 0:
                # Only a request already in flight when the server died may be cut off (response half sent).
                self.cut.append((started, method, path))
                return
            well_formed = status in KNOWN and (
                (status == 204 and body is None) or (isinstance(body, dict | list) and status != 204)
            )
            if isinstance(body, dict) and status >= 400:
                well_formed = well_formed and body.get("code") == status and isinstance(body.get("status"), str)
            if not well_formed:
                self.malformed.append((method, path, status, str(body)[:200]))


def call(record: Record, method, path, body=None, token=None, key=None, base=EDGE):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if key:
        headers["Idempotency-Key"] = key
    started = time.monotonic()
    status, head, parsed = http(method, base + path, body, headers, timeout=30)
    record.note(method, path, status, parsed, started)
    return status, head, parsed


def pause(head, attempt: int) -> float:
    """How long a well-behaved client waits before trying again: the server's Retry-After when it sent one (a
    503 for busy password checks or an unreachable database), else a short growing back-off (a dead server)."""
    retry_after = head.get("Retry-After") if head else None
    return float(retry_after) if retry_after and retry_after.isdigit() else min(0.2 * (attempt + 1), 2.0)


def money(record: Record, path, body, token):
    """A money POST with an Idempotency-Key, retried with the same key: returns (applied, status, body)."""
    key = uuid.uuid4().hex
    deadline = time.monotonic() + RETRY_FOR
    for attempt in itertools.count():
        status, head, parsed = call(record, "POST", API + path, body, token, key)
        if status not in RETRYABLE:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: no answer after {attempt + 1} tries in {RETRY_FOR} s (last {status})")
        time.sleep(pause(head, attempt))
    if status == 409 and "still being processed" in str(parsed):
        # The first try's claim is recorded but its effect was not: the outcome commits with the effect.
        return False, status, parsed
    return 200 <= status < 300, status, parsed


def retrying(record: Record, method, path, body=None, token=None, accept=()):
    deadline = time.monotonic() + RETRY_FOR
    for attempt in itertools.count():
        status, head, parsed = call(record, method, path, body, token)
        if status not in RETRYABLE:
            return status, parsed
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {path}: no answer after {attempt + 1} tries in {RETRY_FOR} s")
        time.sleep(pause(head, attempt))


def buyer_flow(record: Record, n: int, product_id: int) -> None:
    username = f"load{n}x{uuid.uuid4().hex[:6]}"
    password = "load-password-1"
    account = {"username": username, "password": password, "role": "buyer"}
    status, body = retrying(record, "POST", API + "/users", account)
    if status == 409:  # the name is unique to this run: our own earlier try went through, its answer was lost
        status = 201
    if status != 201:
        return
    state = {"deposit": 0, "orders": 0}
    with record.lock:
        record.buyers[username] = state
    status, body = retrying(record, "POST", API + "/auth/login", {"username": username, "password": password})
    if status != 200:
        return
    token = body["token"]
    for coin in COINS_IN:
        applied, status, body = money(record, "/deposit", {"coin": coin}, token)
        if applied:
            state["deposit"] += coin
            assert body["deposit"] == state["deposit"], (username, body, state)
    status, body = retrying(record, "GET", API + "/deposit", token=token)
    if status == 200:
        assert body["deposit"] == state["deposit"], (username, body, state)
    call(record, "GET", API + "/products?inStock=true")
    applied, status, body = money(record, "/buy", {"productId": product_id, "amount": 1}, token)
    if applied:
        assert body["totalSpent"] == COST and body["deposit"] == 0
        assert sum(body["change"]) == state["deposit"] - COST
        state["deposit"] = 0
        state["orders"] += 1
    for coin in (10, 5):
        applied, status, body = money(record, "/deposit", {"coin": coin}, token)
        if applied:
            state["deposit"] += coin
    applied, status, body = money(record, "/reset", {}, token)
    if applied:
        assert sum(body["change"]) == state["deposit"], (username, body, state)
        state["deposit"] = 0
    status, body = retrying(record, "GET", API + "/orders", token=token)
    if status == 200:
        assert len(body) == state["orders"]
    with record.lock:
        record.completed_flows += 1


@pytest.fixture
def cache_prefix():
    """Both servers keep read-cache versions and rate-limit counters in Redis under a prefix of this test's own,
    removed after it."""
    import redis

    prefix = f"vending-scale-{secrets.token_hex(6)}:"
    yield prefix
    store = redis.Redis(host="127.0.0.1", port=6379, db=5)
    try:
        keys = list(store.scan_iter(match=f"*{prefix}*", count=1000))  # limits keys start LIMITS:LIMITER/
        if keys:
            store.delete(*keys)
    finally:
        store.close()


@pytest.fixture
def stack(fresh_database_url, processes, tmp_path, cache_prefix):
    reason = _why_skip()
    if reason:
        pytest.skip(reason)
    env = server_env(
        fresh_database_url,
        CACHE_VERSIONS="redis://127.0.0.1:6379/5",
        CACHE_KEY_PREFIX=cache_prefix,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/5",
        RATELIMIT_KEY_PREFIX=cache_prefix + "limits",
        LOGIN_RATE_LIMIT="1000 per minute",
        REGISTER_RATE_LIMIT="1000 per minute",
        PROXY_FIX_HOPS="1",
    )
    migrate_database(env)
    start_gunicorn(processes, "app_a", PORT_A, env)
    start_gunicorn(processes, "app_b", PORT_B, env)
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    start_nginx(processes, nginx_dir, PORT_NGINX, [PORT_A, PORT_B])
    return fresh_database_url


def seed(database_url: str) -> int:
    """An operator fills the tubes; a seller lists a product. Returns the product id."""
    import config
    from app import create_app
    from app.extensions import db
    from app.services import machine, users
    from app.services.policy import Actor

    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        admin = users.register("operator", "operator-password", "admin", allow_admin=True)
        machine.set_tubes(Actor(admin.id, "admin", None), dict.fromkeys((5, 10, 20, 50, 100), 500), initial_float=20)
        db.session.remove()
        db.engine.dispose()
    record = Record()
    assert call(record, "POST", API + "/users", {"username": "acme", "password": "acme-password", "role": "seller"},
                base=A)[0] == 201
    token = call(record, "POST", API + "/auth/login", {"username": "acme", "password": "acme-password"}, base=A)[2]
    status, _, product = call(
        record, "POST", API + "/products", {"productName": "Cola", "cost": COST, "amountAvailable": 1000},
        token["token"], base=A,
    )
    assert status == 201, product
    return product["id"]


def audit_and_balances(database_url: str):
    import config
    from app import create_app
    from app.extensions import db
    from app.models import Order, User
    from app.services.audit import run_audit

    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        report = run_audit()
        balances = {
            user.username: {
                "deposit": user.deposit,
                "orders": db.session.query(Order).filter(Order.buyer_id == user.id).count(),
            }
            for user in db.session.query(User).filter(User.role == "buyer")
        }
        db.session.remove()
        db.engine.dispose()
    return report, balances


def test_sessions_are_shared_between_servers(stack):
    record = Record()
    assert call(record, "POST", API + "/users", {"username": "roamer", "password": "roamer-pass", "role": "buyer"},
                base=A)[0] == 201
    creds = {"username": "roamer", "password": "roamer-pass"}
    token_a = call(record, "POST", API + "/auth/login", creds, base=A)[2]["token"]
    status, _, me = call(record, "GET", API + "/users/me", token=token_a, base=B)
    assert (status, me["username"]) == (200, "roamer")
    token_b = call(record, "POST", API + "/auth/login", creds, base=B)[2]["token"]
    for _ in range(6):  # every worker of both servers has seen both tokens often enough to cache them
        for token in (token_a, token_b):
            for base in (A, B):
                status, _, me = call(record, "GET", API + "/users/me", token=token, base=base)
                assert (status, me["deposit"]) == (200, 0)
    assert call(record, "POST", API + "/deposit", {"coin": 50}, token=token_a, base=A)[0] == 200
    for base in (A, B):  # a cached account is never served after a change committed on another server
        assert call(record, "GET", API + "/users/me", token=token_b, base=base)[2]["deposit"] == 50
    status, _, revoked = call(record, "POST", API + "/auth/logout/all", token=token_b, base=B)
    assert (status, revoked) == (200, {"revoked": 2})
    for token in (token_a, token_b):
        for base in (A, B):
            status, head, body = call(record, "GET", API + "/users/me", token=token, base=base)
            assert status == 401 and head["WWW-Authenticate"].startswith("Bearer")
    assert not record.malformed and not record.cut


def test_many_clients_through_nginx_survive_a_dead_server(stack, processes, cache_prefix):
    product_id = seed(stack)
    record = Record()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(buyer_flow, record, n, product_id) for n in range(FLOWS)]
        wait_until(lambda: record.answers >= 120 or all(f.done() for f in futures), 240, "the load to get going")
        record.killed_at = time.monotonic()
        processes.kill("app_a")  # SIGKILL to the whole gunicorn process group: in-flight requests die
        killed_at = record.answers
        for future in futures:
            future.result(timeout=300)  # re-raises assertion errors from the flows
    print(f"scale-out: {record.answers} answers {record.statuses}, {len(record.cut)} cut, killed after {killed_at}")
    assert killed_at < record.answers, "the server died after the load was over: nothing was proved"
    assert record.answers >= 250, record.statuses
    assert not record.malformed, record.malformed[:10]
    assert all(started <= record.killed_at for started, _, _ in record.cut), record.cut
    assert len(record.cut) <= THREADS, record.cut
    assert record.completed_flows >= FLOWS * 3 // 4, (record.completed_flows, record.statuses)

    # nginx took the dead server out and keeps answering from the other one.
    status, _, health = http("GET", EDGE + "/healthz")
    assert (status, health["status"], health["database"]) == (200, "ok", "ok")

    report, balances = audit_and_balances(stack)
    assert report.clean, report.render()
    for username, expected in record.buyers.items():
        assert balances[username] == expected, (username, balances[username], expected)
    assert {name for name in balances if name.startswith("load")} == set(record.buyers)

    import redis

    store = redis.Redis(host="127.0.0.1", port=6379, db=5)
    try:
        counters = list(store.scan_iter(match=f"*{cache_prefix}limits*password-checks-address*", count=1000))
        assert counters, "the servers' shared password-check counters are not in Redis"
    finally:
        store.close()
