"""Password hashing cannot starve the other requests (issue 16): real gunicorn, real argon2id cost.

Twelve clients send wrong-password logins back to back while one client reads a product: the reads' median
stays within 3x of their median without that load. Rate limits are off here, as for an attacker with many
addresses and accounts: only the per-worker cap (app.services.passwords) stands between the hashing and the
reads. Clients retry a 503 after its Retry-After, as told; a client that ignores it is a flood of cheap
requests, which nginx's limit_conn and limit_req answer (tests/deploy/test_nginx_edge.py).
"""

import statistics
import threading
import time

import pytest

from tests.deploy.conftest import (
    GUNICORN,
    Processes,
    free_port,
    http,
    migrate_database,
    server_env,
    start_gunicorn,
)

pytestmark = pytest.mark.slow

HASHING_CLIENTS = 12
READS = 80


@pytest.fixture
def served(fresh_database_url, tmp_path):
    if not GUNICORN.exists():
        pytest.skip("needs gunicorn in the virtualenv")
    env = server_env(fresh_database_url, RATELIMIT_ENABLED="0")
    migrate_database(env)
    processes = Processes(tmp_path)
    port = free_port()
    try:
        start_gunicorn(processes, "app", port, env, workers=2)  # 2 workers x 4 threads: 2 argon2 slots each
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop_all()


def read_latencies(url: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        status, _, _ = http("GET", url, timeout=30)
        latencies.append(time.perf_counter() - started)
        assert status == 200
    return latencies


def test_hashing_leaves_catalogue_reads_within_3x(served):
    status, _, _ = http("POST", f"{served}/api/v1/users",
                        {"username": "seller1", "password": "load-password-1", "role": "seller"}, timeout=30)
    assert status == 201
    status, _, login = http("POST", f"{served}/api/v1/auth/login",
                            {"username": "seller1", "password": "load-password-1"}, timeout=30)
    assert status == 200
    status, _, product = http("POST", f"{served}/api/v1/products",
                              {"productName": "Cola", "cost": 35, "amountAvailable": 5},
                              {"Authorization": f"Bearer {login['token']}"})
    assert status == 201
    product_url = f"{served}/api/v1/products/{product['id']}"
    read_latencies(product_url, 20)  # warm every worker
    unloaded = statistics.median(read_latencies(product_url, READS))

    stop = threading.Event()
    answers: list[int] = []

    def guess() -> None:
        while not stop.is_set():
            status, headers, body = http("POST", f"{served}/api/v1/auth/login",
                                         {"username": "seller1", "password": "wrong-password"}, timeout=60)
            answers.append(status)
            if status == 503:
                assert body["code"] == 503 and "try again" in body["message"]
                stop.wait(float(headers["Retry-After"]))

    clients = [threading.Thread(target=guess, daemon=True) for _ in range(HASHING_CLIENTS)]
    for client in clients:
        client.start()
    try:
        time.sleep(1.0)  # every slot busy before the reads start
        loaded = statistics.median(read_latencies(product_url, READS))
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=90)
    assert not any(client.is_alive() for client in clients)

    assert set(answers) <= {401, 503}
    assert answers.count(401) >= 4, answers  # real argon2id checks ran meanwhile
    assert 503 in answers, "twelve clients should find every slot of both workers taken"
    assert loaded <= 3 * unloaded, f"reads' median {loaded * 1e3:.1f} ms under load, {unloaded * 1e3:.1f} ms without"
