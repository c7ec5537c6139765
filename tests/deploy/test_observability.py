"""Logs, metrics and the connection-budget warning of a real gunicorn server (issue 17)."""

import json
import re
import subprocess
import sys

import pytest

from tests.deploy.conftest import (
    GUNICORN,
    ROOT,
    free_port,
    http,
    migrate_database,
    server_env,
    start_gunicorn,
)

pytestmark = pytest.mark.slow


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")) and not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.skipif(not GUNICORN.exists(), reason="needs gunicorn in the virtualenv")
def test_json_logs_request_ids_metrics_and_no_secrets(processes, tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'obs.db'}", GUNICORN_WORKERS="2", LOGIN_RATE_LIMIT="100/minute",
                     DATABASE_URL=f"sqlite:///{tmp_path / 'obs.db'}")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    migrate_database(env)
    port = free_port()
    start_gunicorn(processes, "app", port, env, workers=2)
    base = f"http://127.0.0.1:{port}"
    password = "obs-Secret-pw-981"
    assert http("POST", f"{base}/api/v1/users", {"username": "obs", "password": password})[0] == 201
    status, headers, login = http("POST", f"{base}/api/v1/auth/login", {"username": "obs", "password": password},
                                  {"X-Request-ID": "client-chosen-id-1234"})
    assert status == 200 and headers["X-Request-ID"] == "client-chosen-id-1234"
    token = login["token"]
    cookie = "session=cookie-value-that-must-not-be-logged"
    auth = {"Authorization": f"Bearer {token}", "Cookie": cookie}
    status, headers, me = http("GET", f"{base}/api/v1/users/me", headers=auth)
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])  # made up when not sent
    assert http("GET", f"{base}/api/v1/users/me", headers={"X-Request-ID": "bad id!"})[1]["X-Request-ID"] != "bad id!"
    wrong = http("PATCH", f"{base}/api/v1/users/{me['id']}", {"currentPassword": "not-" + password,
                                                              "password": "another-Secret-pw-77"}, auth)
    assert wrong[0] == 422
    for _ in range(3):
        http("POST", f"{base}/api/v1/deposit", {"coin": 50}, auth)  # a seller-less buyer: deposits work

    # Metrics: every worker's requests, summed (multiprocess), on the app's own port; not through a proxy.
    scraped = ""
    for _ in range(6):  # whichever worker answers, the numbers are the sum of all
        status, headers, scraped = http("GET", f"{base}/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert metric(scraped, "vending_money_operations_total", operation="deposit", channel="api") == 3
    assert metric(scraped, "vending_http_requests_total", route="/api/v1/users/me", status="200") == 1
    assert metric(scraped, "vending_http_request_duration_seconds_count", route="/api/v1/deposit") == 3
    assert "vending_db_connections_in_use" in scraped and "vending_read_cache_hits_total" in scraped
    assert http("GET", f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.7"})[0] == 404

    processes.kill("app", 15)
    logged = processes.log_dir.joinpath("app.log").read_text()
    lines = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "pid", "request_id", "message"} <= set(x) for x in lines)
    access = [x for x in lines if x["logger"] == "gunicorn.access"]
    me_line = next(x for x in access if x["route"] == "/api/v1/users/me" and x["status"] == 200)
    assert me_line["user_id"] == me["id"] and me_line["method"] == "GET" and me_line["duration_ms"] >= 0
    assert me_line["request_id"] == headers_of(access, "/api/v1/users/me")
    assert any(x["request_id"] == "client-chosen-id-1234" and x["route"] == "/api/v1/auth/login" for x in access)
    assert next(x for x in access if x["route"] == "/api/v1/users/<int:user_id>")["status"] == 422
    for secret in (token, password, "another-Secret-pw-77", "cookie-value-that-must-not-be-logged", "Bearer",
                   "Authorization", "authorization"):
        assert secret not in logged, secret


def headers_of(access: list[dict], route: str) -> str:
    return next(x["request_id"] for x in access if x["route"] == route and x["status"] == 200)


@pytest.mark.skipif(not GUNICORN.exists(), reason="needs gunicorn in the virtualenv")
def test_a_start_over_the_connection_budget_is_warned_about(processes, tmp_path):
    env = server_env("postgresql+psycopg://vending@127.0.0.1:1/never", DB_POOL_SIZE="30", DB_MAX_OVERFLOW="10",
                     DB_MAX_CONNECTIONS="100", APP_SERVERS="2")
    port = free_port()
    server = processes.start("app", [str(GUNICORN), "-c", "gunicorn_cfg.py", "run:app"],
                             {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2"})
    try:
        from tests.deploy.conftest import wait_until

        wait_until(lambda: "app.capacity" in processes.log("app") or server.poll() is not None, 30, "the budget line")
    finally:
        processes.kill("app")
    lines = [json.loads(line) for line in processes.log("app").splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line["logger"] == "app.capacity"]
    assert warnings and warnings[0]["level"] == "WARNING"
    assert "2 workers x 40 connections (DB_POOL_SIZE + DB_MAX_OVERFLOW) x 2 app servers (APP_SERVERS) = 160" \
        in warnings[0]["message"] and "97 (100 max_connections - 3 reserved)" in warnings[0]["message"]


def test_the_budget_asks_postgresql_when_not_configured(database_url, is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    from app.capacity import check_connection_budget

    budget = check_connection_budget({"SQLALCHEMY_DATABASE_URI": database_url, "DB_POOL_SIZE": 5,
                                      "DB_MAX_OVERFLOW": 5, "APP_SERVERS": 2}, workers=3)
    assert budget is not None and budget.max_connections >= 20 and budget.wanted == 60


def test_gunicorn_config_installs_json_logging_and_metrics_hooks():
    code = ("import runpy, json; c = runpy.run_path('gunicorn_cfg.py'); d = c['logconfig_dict'];"
            "print(json.dumps([d['formatters']['access']['()'], d['loggers']['gunicorn.access']['handlers'],"
            " all(callable(c[h]) for h in ('on_starting', 'child_exit', 'on_exit', 'when_ready'))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout) == ["app.logs.AccessLogFormatter", ["access"], True], out.stderr
    bad = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('gunicorn_cfg.py')"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                                          "GUNICORN_WORKERS": "many"})
    assert bad.returncode == 1
    assert bad.stderr.strip() == "vending: invalid configuration: GUNICORN_WORKERS='many': expected a whole number"
