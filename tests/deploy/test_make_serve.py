"""`make serve`, the production shape on one host: its rate-limit counters live in the local Redis, shared by
every worker, so a guesser gets the configured budget and not one per worker (issue 16)."""

import os
import shutil
import uuid

import pytest
import redis

from tests.deploy.conftest import GUNICORN, TEST_SECRET, free_port, http, redis_up, wait_until

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not GUNICORN.exists() or not shutil.which("make"), reason="needs make and gunicorn")
def test_make_serve_counts_logins_in_the_local_redis(processes, tmp_path):
    if not redis_up():
        pytest.skip("Redis does not answer on 127.0.0.1:6379 (.ci/run starts it)")
    port, prefix = free_port(), f"vending-serve-test-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "RATELIMIT_", "TEST_"))}
    env.update(SECRET_KEY=TEST_SECRET, DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
               GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="3", LOGIN_RATE_LIMIT="4 per minute",
               RATELIMIT_KEY_PREFIX=prefix)
    server = processes.start("serve", ["make", "--no-print-directory", "serve"], env)

    def ready() -> bool:
        assert server.poll() is None, processes.log("serve")
        return http("GET", f"http://127.0.0.1:{port}/readyz", timeout=2)[0] == 200

    try:
        wait_until(ready, 90, "make serve")
        status, _, health = http("GET", f"http://127.0.0.1:{port}/readyz")
        assert health["redis"] == "ok"  # /readyz checks the rate-limit storage when it is Redis
        assert "rate-limit counters in the local Redis: redis://127.0.0.1:6379/0" in processes.log("serve")
        answers = [http("POST", f"http://127.0.0.1:{port}/api/v1/auth/login",
                        {"username": "nobody", "password": "wrong-password"})[0] for _ in range(8)]
        assert answers[:4] == [401] * 4 and set(answers[4:]) == {429}, answers  # 4 in all, whichever worker
    finally:
        processes.kill("serve")
        store = redis.Redis(host="127.0.0.1", port=6379, db=0)
        try:
            keys = list(store.scan_iter(match=f"*{prefix}*", count=1000))
            if keys:
                store.delete(*keys)
        finally:
            store.close()
