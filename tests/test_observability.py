"""Metrics, Sentry and log redaction, in-process (the live-server side is in tests/deploy/test_observability.py)."""

import json
import logging
import subprocess
import sys

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

import config
from app import create_app
from app.logs import JsonLogFormatter, RequestContextFilter, redact
from tests.deploy.conftest import ROOT
from tests.factories import deposit_coins, make_product

API = "/api/v1"


@pytest.fixture
def make_app():
    from app.extensions import db

    made = []

    def make(**overrides):
        made.append(create_app(config.TestConfig(), **overrides))
        return made[-1]

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_money_counters_count_api_and_web_outcomes(client, buyer, seller, set_tubes):
    cola = make_product(seller, product_name="Cola", cost=35, amount_available=5, refundable=True)
    before = scrape(client)

    def delta(name, **labels):
        return value(scrape(client), name, **labels) - value(before, name, **labels)

    deposit_coins(client, buyer, 100)
    keyed = {**buyer.headers, "Idempotency-Key": "buy-1"}
    set_tubes({})  # no coins for change: 65 cannot be paid
    refused = client.post(f"{API}/buy", json={"productId": cola.id}, headers=keyed)
    assert refused.status_code == 409 and "cannot give €0.65 in change" in refused.get_json()["message"]
    assert client.post(f"{API}/buy", json={"productId": cola.id}, headers=keyed).headers["Idempotent-Replayed"]
    set_tubes({5: 20, 10: 20, 20: 20, 50: 20})
    assert client.post(f"{API}/buy", json={"productId": cola.id}, headers=buyer.headers).status_code == 200
    assert client.post(f"{API}/reset", headers=buyer.headers).status_code == 200

    assert delta("vending_money_operations_total", operation="deposit", channel="api") == 1
    assert delta("vending_money_operations_total", operation="buy", channel="api") == 1
    assert delta("vending_money_operations_total", operation="reset", channel="api") == 1
    assert delta("vending_change_impossible_total", operation="buy", channel="api") == 1
    assert delta("vending_idempotent_replays_total", operation="buy") == 1

    client.post("/login", data={"username": buyer.username, "password": buyer.password})
    client.post("/machine/deposit", data={"coin": 50})
    set_tubes({})
    client.post("/machine/buy", data={"product_id": cola.id, "amount": 1})
    client.post("/machine/reset")
    assert delta("vending_money_operations_total", operation="deposit", channel="web") == 1
    assert delta("vending_change_impossible_total", operation="buy", channel="web") == 1
    assert delta("vending_money_operations_total", operation="reset", channel="web") == 1
    assert delta("vending_http_requests_total", method="POST", route="/machine/deposit", status="302") == 1
    assert delta("vending_http_request_duration_seconds_count", method="POST", route="/api/v1/buy") == 3


def test_read_cache_and_pool_are_measured(client, seller):
    make_product(seller)
    before = scrape(client)
    for _ in range(3):
        client.get(f"{API}/products")
    after = scrape(client)
    hits = value(after, "vending_read_cache_hits_total") - value(before, "vending_read_cache_hits_total")
    misses = value(after, "vending_read_cache_misses_total") - value(before, "vending_read_cache_misses_total")
    assert hits + misses >= 3 and hits >= 1
    assert "vending_db_connections_in_use" in after


@pytest.mark.parametrize("overrides, headers", [({"METRICS_ENABLED": False}, {}),
                                                ({}, {"X-Forwarded-For": "203.0.113.9"})])
def test_metrics_are_not_served_when_off_or_through_a_proxy(database_url, _schema, make_app, overrides, headers):
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url, **overrides)
    assert app.test_client().get("/metrics", headers=headers).status_code == 404


class Recorder(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_off_afterwards():
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def failing_app(make_app, database_url, **overrides):
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url, **overrides)

    @app.get("/api/v1/_boom")
    def boom():
        raise RuntimeError("boom for the test")

    return app


def test_errors_go_to_sentry_without_credentials(database_url, _schema, make_app, sentry_off_afterwards):
    recorder = Recorder()
    app = failing_app(make_app, database_url, SENTRY_DSN="https://public@sentry.invalid/1",
                      SENTRY_TRANSPORT=recorder, SENTRY_ENVIRONMENT="test")
    response = app.test_client().get("/api/v1/_boom", headers={"Authorization": "Bearer vm_secret-token-123",
                                                              "Cookie": "session=secret-cookie"})
    assert response.status_code == 500 and response.get_json() == {"code": 500, "status": "Internal Server Error"}
    sentry_sdk.flush()
    assert len(recorder.events) == 1
    event = recorder.events[0]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError" and event["environment"] == "test"
    assert event["request"]["url"].endswith("/api/v1/_boom")
    text = json.dumps(event)
    assert "secret-token-123" not in text and "secret-cookie" not in text
    client = app.test_client()
    assert client.get(f"{API}/products/999").status_code == 404  # refusals are not errors
    sentry_sdk.flush()
    assert len(recorder.events) == 1


def test_without_a_dsn_sentry_is_not_even_loaded(tmp_path):
    code = f"""
import sys, config
from app import create_app
app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI="sqlite:///{tmp_path}/x.db")
@app.get("/api/v1/_boom")
def boom():
    raise RuntimeError("boom")
print(app.test_client().get("/api/v1/_boom").status_code, "sentry_sdk" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.stdout.split() == ["500", "False"], result.stderr[-2000:]


def test_production_config_reads_the_sentry_settings(monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", "https://key@o1.ingest.sentry.io/2")
    settings = config.DevelopmentConfig()
    assert settings.SENTRY_DSN == "https://key@o1.ingest.sentry.io/2" and settings.SENTRY_ENVIRONMENT == "development"
    assert config.TestConfig().SENTRY_DSN is None


@pytest.mark.parametrize("text", [
    "Authorization: Bearer vm_abcdefghijklmnop", "token=vm_abcdefghijklmnop", '{"password": "hunter2hunter2"}',
    "currentPassword='hunter2hunter2'", "Cookie: session=abc.def.ghi",
])
def test_log_texts_are_redacted(text):
    cleaned = redact(text)
    for secret in ("abcdefghijklmnop", "hunter2hunter2", "abc.def.ghi"):
        assert secret not in cleaned


def test_app_lines_carry_the_request_id(client):
    formatter, request_filter = JsonLogFormatter(), RequestContextFilter()
    captured = []

    class Capture(logging.Handler):
        def emit(self, record):
            request_filter.filter(record)
            captured.append(json.loads(formatter.format(record)))

    handler = Capture()
    logging.getLogger("app").addHandler(handler)
    try:
        app_log = logging.getLogger("app.test")
        with client.application.test_request_context("/", headers={"X-Request-ID": "abcdefgh-1234"},
                                                     environ_base={"vending.request_id": "abcdefgh-1234"}):
            app_log.warning("something with Bearer vm_abcdefghijklmnop")
    finally:
        logging.getLogger("app").removeHandler(handler)
    line = captured[-1]
    assert line["request_id"] == "abcdefgh-1234" and line["logger"] == "app.test" and line["level"] == "WARNING"
    assert "vm_abcdefghijklmnop" not in line["message"] and isinstance(line["pid"], int)


def test_request_ids_are_echoed(client):
    assert client.get("/livez", headers={"X-Request-ID": "abcdefgh-1234"}).headers["X-Request-ID"] == "abcdefgh-1234"
    made = client.get("/livez").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/livez").headers["X-Request-ID"]


def test_create_app_needs_no_sentry_transport_in_production(monkeypatch):
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI="sqlite://").config.get("SENTRY_DSN") is None
