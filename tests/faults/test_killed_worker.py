"""A gunicorn worker SIGKILLed in the middle of a buy, its COMMIT held by the proxy (not yet sent, or
sent and committed): the buyer's retry with the same Idempotency-Key gets its answer within 5 s, and
the buy happens exactly once."""

import os
import signal
import threading
import time

import pytest

from tests.deploy.conftest import Processes, http, server_env, start_gunicorn
from tests.faults.conftest import Shop, children, free_port, pid_with_local_port, through

KEY = "buy-after-a-killed-worker"


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.mark.parametrize("held", ["hold before", "hold after"], ids=["killed before COMMIT", "killed after COMMIT"])
def test_a_buy_retried_after_its_worker_was_killed_is_answered_within_5_s_and_happens_once(
        shop: Shop, proxy, processes, held):
    seller, buyer = shop.account("seller"), shop.account("buyer")
    product = shop.ok("POST", "/products", seller, {"productName": "Cola", "cost": 35, "amountAvailable": 10},
                      status=201)
    port = free_port()
    env = server_env(through(shop.direct_url, proxy.port), GUNICORN_PRELOAD="0")
    start_gunicorn(processes, "app", port, env, workers=2)
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = {"Authorization": f"Bearer {buyer.token}"}
    for coin in (50, 20, 20):
        assert http("POST", f"{base}/deposit", {"coin": coin}, auth)[0] == 200
    body = {"productId": product["id"], "amount": 1}
    keyed = {**auth, "Idempotency-Key": KEY}
    proxy.arm(held)

    first = {}
    waiting = threading.Thread(target=lambda: first.update(answer=http("POST", f"{base}/buy", body, keyed)))
    waiting.start()
    assert proxy.held.wait(15), "the buy never reached its COMMIT"
    worker = pid_with_local_port(proxy.held_client[1], children(processes.procs["app"].pid))
    assert worker is not None, "no gunicorn worker holds the connection"
    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()
    waiting.join(30)

    answers = []
    while time.monotonic() - killed_at < 15:
        status, headers, reply = http("POST", f"{base}/buy", body, keyed, timeout=10)
        answers.append((status, reply))
        if status == 200:
            break
        time.sleep(0.2)
    answered_after = time.monotonic() - killed_at

    assert first["answer"][0] in (0, 502, 503), first["answer"]  # the killed worker's client got no answer
    assert answers[-1][0] == 200, answers
    assert answered_after < 5, (answered_after, answers)
    assert answers[-1][1]["change"] == [50, 5] and answers[-1][1]["totalSpent"] == 35
    again = http("POST", f"{base}/buy", body, keyed)
    assert (again[0], again[2]) == (200, answers[-1][1]) and again[1]["Idempotent-Replayed"] == "true"
    assert shop.sql("SELECT count(*) FROM orders") == 1
    assert shop.sql("SELECT amount_available FROM products WHERE id = :id", id=product["id"]) == 9
    assert shop.audit_is_clean()
