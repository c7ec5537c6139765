"""A rolling restart nobody notices: two gunicorn servers on PostgreSQL behind nginx/vending.conf, under load
from buyers depositing and buying with Idempotency-Keys and reading the catalogue, while each server in turn
gets SIGTERM (its master only, as `docker stop` does), exits, and a new one starts on the same port.

No client may see a 5xx or a broken connection, every money request must be applied exactly once (the
server's balances and orders equal what the clients were told), and `flask audit` must pass.
"""

import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

import pytest

from tests.deploy.conftest import (
    FLASK,
    GUNICORN,
    NGINX,
    ROOT,
    free_port,
    http,
    migrate_database,
    port_open,
    redis_up,
    server_env,
    start_gunicorn,
    start_nginx,
    wait_until,
)

pytestmark = pytest.mark.slow

API = "/api/v1"
BUYERS = 6
COST = 35
COINS = (50, 20, 10, 5)


def _why_skip() -> str | None:
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        return "needs PostgreSQL (TEST_DATABASE_URL)"
    if NGINX is None:
        return "needs nginx (.ci/run installs it)"
    if not GUNICORN.exists() or not FLASK.exists():
        return "needs gunicorn and flask in the virtualenv"
    return None


@dataclass
class Buyer:
    username: str
    token: str
    deposit: int = 0  # what the answers said
    orders: int = 0
    keys: list = field(default_factory=list)  # (key, coin) of every deposit applied


@dataclass
class Load:
    edge: str
    product_id: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list = field(default_factory=list)  # (monotonic time, method, path, status)
    failures: list = field(default_factory=list)  # 5xx or no answer: (method, path, status, body)

    def call(self, method, path, body=None, token=None, key=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        status, head, parsed = http(method, self.edge + path, body, headers, timeout=30)
        with self.lock:
            self.answers.append((time.monotonic(), method, path, status))
            if status == 0 or status >= 500:
                self.failures.append((method, path, status, str(parsed)[:300]))
        return status, head, parsed

    def money(self, path, body, token):
        """A money POST with a fresh key; asked again with the same key only while its outcome is unknown."""
        key = uuid.uuid4().hex
        for _ in range(20):
            status, head, parsed = self.call("POST", API + path, body, token, key)
            unknown = status == 0 or status >= 500 or (status == 409 and "still being processed" in str(parsed))
            if not unknown:
                return key, status, parsed
            time.sleep(0.2)
        raise AssertionError(f"{path}: no outcome after 20 tries")

    def shop(self, buyer: Buyer) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            coin = COINS[n % len(COINS)]
            key, status, body = self.money("/deposit", {"coin": coin}, buyer.token)
            assert status == 200, (status, body)
            buyer.deposit += coin
            buyer.keys.append((key, coin))
            assert body["deposit"] == buyer.deposit, (buyer.username, body, buyer.deposit)
            status, _, listing = self.call("GET", API + "/products?inStock=true")
            assert status == 200, listing
            if n % 3 == 2:
                _, status, body = self.money("/buy", {"productId": self.product_id, "amount": 1}, buyer.token)
                assert status == 200, (status, body)
                assert sum(body["change"]) == buyer.deposit - COST and body["deposit"] == 0, (body, buyer.deposit)
                buyer.deposit = 0
                buyer.orders += 1


def register_and_login(edge: str, username: str, role: str) -> str:
    password = f"{username}-password-1"
    status, _, body = http("POST", edge + API + "/users", {"username": username, "password": password, "role": role})
    assert status == 201, body
    status, _, body = http("POST", edge + API + "/auth/login", {"username": username, "password": password})
    assert status == 200, body
    return body["token"]


def seed(env: dict, edge: str) -> int:
    """Through the operator's CLI and the API only: an operator fills the tubes, a seller lists a product."""
    created = subprocess.run([str(FLASK), "create-admin", "operator", "--password-stdin"], cwd=ROOT, env=env,
                             input="operator-password-1\n", capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr[-2000:]
    status, _, body = http("POST", edge + API + "/auth/login",
                           {"username": "operator", "password": "operator-password-1"})
    assert status == 200, body
    tubes = {str(coin): 2000 for coin in (5, 10, 20, 50, 100)}
    status, _, body = http("PUT", edge + API + "/machine/coins", tubes, {"Authorization": f"Bearer {body['token']}"})
    assert status == 200, body
    seller = register_and_login(edge, "acme", "seller")
    status, _, product = http("POST", edge + API + "/products",
                              {"productName": "Cola", "cost": COST, "amountAvailable": 10000},
                              {"Authorization": f"Bearer {seller}"})
    assert status == 201, product
    return product["id"]


def served_by(log_path, port: int, after_line: int) -> bool:
    """nginx has passed a request to 127.0.0.1:port and got a 200, after the log's first `after_line` lines."""
    if not log_path.exists():
        return False
    for line in log_path.read_text().splitlines()[after_line:]:
        entry = json.loads(line)
        last_upstream = entry["upstream_addr"].split(", ")[-1]
        if last_upstream == f"127.0.0.1:{port}" and entry["upstream_status"].split(", ")[-1] == "200":
            return True
    return False


@pytest.fixture
def redis_settings():
    """Rate limits and read-cache versions in Redis, as in production, under a prefix removed afterwards."""
    if not redis_up():
        yield {}
        return
    import redis

    prefix = f"vending-rolling-{uuid.uuid4().hex[:12]}"
    yield {"CACHE_VERSIONS": "redis://127.0.0.1:6379/5", "CACHE_KEY_PREFIX": prefix + ":version:",
           "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/5", "RATELIMIT_KEY_PREFIX": prefix}
    store = redis.Redis(host="127.0.0.1", port=6379, db=5)
    try:
        keys = list(store.scan_iter(match=f"*{prefix}*", count=1000))  # limits keys start LIMITS:LIMITER/
        if keys:
            store.delete(*keys)
    finally:
        store.close()


def count_orders(edge: str, token: str) -> int:
    """The buyer's orders on the server, every page followed by its Link rel="next" cursor."""
    url, counted = edge + API + "/orders?page_size=100", 0
    while url:
        status, head, body = http("GET", url, headers={"Authorization": f"Bearer {token}"})
        assert status == 200, (status, body)
        counted += len(body)
        following = re.search(r'<([^>]+)>;\s*rel="next"', head.get("Link") or "")
        url = urllib.parse.urljoin(edge, following.group(1)) if following else None
    return counted


def test_restarting_each_server_in_turn_loses_nothing(fresh_database_url, processes, tmp_path, redis_settings):
    reason = _why_skip()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    env = server_env(fresh_database_url, PROXY_FIX_HOPS="1", LOGIN_RATE_LIMIT="1000 per minute",
                     REGISTER_RATE_LIMIT="1000 per minute", **redis_settings)
    migrate_database(env)
    ports = {"a": free_port(), "b": free_port()}
    edge_port = free_port()
    for name, port in ports.items():
        start_gunicorn(processes, f"app_{name}0", port, env)
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    start_nginx(processes, nginx_dir, edge_port, list(ports.values()))
    edge = f"http://127.0.0.1:{edge_port}"
    access_log = nginx_dir / "access.log"

    product_id = seed(env, edge)
    buyers = [Buyer(f"buyer{n}", register_and_login(edge, f"buyer{n}", "buyer")) for n in range(BUYERS)]
    load = Load(edge, product_id)
    errors = []

    def run(buyer_thread):
        try:
            buyer_thread()
        except BaseException as error:  # noqa: BLE001 (reported by the test below)
            errors.append(error)
            load.stop.set()

    threads = [threading.Thread(target=run, args=(lambda b=buyer: load.shop(b),), daemon=True) for buyer in buyers]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(load.answers) >= 100 or load.stop.is_set(), 30, "the load to get going")

    windows = []
    for name, port in ports.items():
        old = processes.procs[f"app_{name}0"]
        stopped_at = time.monotonic()
        os.kill(old.pid, signal.SIGTERM)  # the master only, as `docker stop` does; it stops its workers
        old.wait(timeout=40)
        assert old.returncode == 0, processes.log(f"app_{name}0")
        assert not port_open(port)
        start_gunicorn(processes, f"app_{name}1", port, env)
        status, _, ready = http("GET", f"http://127.0.0.1:{port}/readyz")
        assert status == 200, ready
        # Before the next server stops, nginx must be sending this one traffic again (it takes a failed
        # server out for fail_timeout): otherwise it would have no server left.
        log_lines = len(access_log.read_text().splitlines())
        wait_until(lambda p=port, n=log_lines: served_by(access_log, p, n) or load.stop.is_set(), 20,
                   f"nginx to send traffic to the new server on port {port}")
        windows.append((stopped_at, time.monotonic()))
    time.sleep(1)
    load.stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    during = [a for a in load.answers if any(start <= a[0] <= end for start, end in windows)]
    retried = [line for line in access_log.read_text().splitlines() if ", " in json.loads(line)["upstream_addr"]]
    statuses = {}
    for _, _, _, status in load.answers:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"rolling restart: {len(load.answers)} answers {statuses}, {len(during)} while a server restarted, "
          f"{len(retried)} passed on by nginx to the other server, {time.monotonic() - started:.1f} s")
    assert not load.failures, load.failures[:10]
    assert len(during) >= 50, "the load hardly overlapped the restarts: nothing was proved"

    # Exactly once: each buyer's deposit and orders on the server are what the answers said.
    for buyer in buyers:
        status, _, me = http("GET", edge + API + "/users/me", headers={"Authorization": f"Bearer {buyer.token}"})
        assert (status, me["deposit"]) == (200, buyer.deposit), buyer.username
        assert count_orders(edge, buyer.token) == buyer.orders, buyer.username
    inserted = sum(coin for buyer in buyers for _, coin in buyer.keys)
    spent = COST * sum(buyer.orders for buyer in buyers)
    assert inserted > spent > 0
    # A deposit asked again with its key is answered from the first outcome and changes nothing.
    buyer = buyers[0]
    key, coin = buyer.keys[0]
    status, head, body = http("POST", edge + API + "/deposit", {"coin": coin},
                              {"Authorization": f"Bearer {buyer.token}", "Idempotency-Key": key})
    assert status == 200 and head["Idempotent-Replayed"] == "true"
    assert http("GET", edge + API + "/users/me", headers={"Authorization": f"Bearer {buyer.token}"})[2]["deposit"] \
        == buyer.deposit

    audit = subprocess.run([str(FLASK), "audit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
