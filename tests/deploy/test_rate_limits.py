"""Flask-Limiter on login (per address and per username) and registration, with Redis and its fallback."""

import uuid

import pytest

from app.limits import account_key
from app.services import wording
from tests.deploy.conftest import redis_up

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/users"


@pytest.fixture
def app_config():
    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_RATE_LIMIT": "3 per minute", "ACCOUNT_RATE_LIMIT": "3 per minute",
        "REGISTER_RATE_LIMIT": "2 per minute",
        "PROXY_FIX_HOPS": 1,
    }


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def fresh_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def login(client, username, password, address):
    return client.post(LOGIN, json={"username": username, "password": password}, headers=from_address(address))


def assert_429(response):
    assert response.status_code == 429
    assert response.is_json
    body = response.get_json()
    assert body["code"] == 429 and body["status"] == "Too Many Requests"
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 60
    assert f"wait {wording.wait(wait)} and try again" in body["message"]  # the same wait, in words
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_login_is_limited_per_address(client, buyer, db_snapshot):
    address = fresh_address()
    answers = [login(client, f"someone{i}", "wrong-password", address).status_code for i in range(3)]
    assert answers == [401, 401, 401]
    before = db_snapshot()
    blocked = login(client, buyer.username, buyer.password, address)  # even the right password
    assert_429(blocked)
    assert "token" not in blocked.get_json()
    assert db_snapshot() == before
    # Another address is not affected.
    assert login(client, buyer.username, buyer.password, fresh_address()).status_code == 200


def test_login_is_limited_per_username_across_addresses(client, buyer):
    for _ in range(3):
        assert login(client, buyer.username, "wrong-password", fresh_address()).status_code == 401
    assert_429(login(client, buyer.username.upper(), buyer.password, fresh_address()))
    assert login(client, "another-user", "wrong-password", fresh_address()).status_code == 401


def test_registration_is_limited_per_address(client, db_snapshot):
    address = fresh_address()
    for i in range(2):
        answer = client.post(
            REGISTER,
            json={"username": f"new{i}", "password": "long-enough-pw", "role": "buyer"},
            headers=from_address(address),
        )
        assert answer.status_code == 201
    before = db_snapshot()
    new9 = {"username": "new9", "password": "long-enough-pw", "role": "buyer"}
    blocked = client.post(REGISTER, json=new9, headers=from_address(address))
    assert_429(blocked)
    assert db_snapshot() == before
    other = client.post(
        REGISTER,
        json={"username": "new9", "password": "long-enough-pw", "role": "buyer"},
        headers=from_address(fresh_address()),
    )
    assert other.status_code == 201


def test_limits_are_off_in_test_config(database_url, _schema, make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url, LOGIN_RATE_LIMIT="1 per minute")
    assert app.config["RATELIMIT_ENABLED"] is False
    client = app.test_client()
    answers = {client.post(LOGIN, json={"username": "x", "password": "wrong-password"}).status_code for _ in range(4)}
    assert answers == {401}


class TestRedisStorage:
    @pytest.fixture
    def app_config(self):
        if not redis_up():
            pytest.skip("Redis does not answer on 127.0.0.1:6379 (.ci/run starts it)")
        return {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/5",
            "LOGIN_RATE_LIMIT": "3 per minute", "ACCOUNT_RATE_LIMIT": "3 per minute",
            "REGISTER_RATE_LIMIT": "50 per minute",
            "PROXY_FIX_HOPS": 1,
        }

    def test_counters_live_in_redis(self, client):
        import redis

        name = f"redis-user-{uuid.uuid4().hex[:10]}"
        for _ in range(3):
            assert login(client, name, "wrong-password", fresh_address()).status_code == 401
        assert_429(login(client, name, "wrong-password", fresh_address()))
        store = redis.Redis(host="127.0.0.1", port=6379, db=5)
        try:
            keys = [key.decode() for key in store.scan_iter(match=f"*{account_key(name)}*", count=1000)]
            named = list(store.scan_iter(match=f"*{name}*", count=1000))
        finally:
            store.close()
        assert keys, "the per-account counter should be in Redis db 5"
        assert named == [], "the counters name the account by a keyed digest, never by what was typed"


class TestRedisDown:
    @pytest.fixture
    def app_config(self):
        return {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6390/5",  # nothing listens there
            "LOGIN_RATE_LIMIT": "3 per minute", "ACCOUNT_RATE_LIMIT": "3 per minute",
            "PROXY_FIX_HOPS": 1,
        }

    def test_service_keeps_answering_and_limits_in_memory(self, client, buyer):
        address = fresh_address()
        ok = login(client, buyer.username, buyer.password, address)
        assert ok.status_code == 200 and ok.get_json()["token"]
        assert [login(client, buyer.username, "wrong-password", address).status_code for _ in range(2)] == [401, 401]
        assert_429(login(client, buyer.username, buyer.password, address))
        assert client.get("/api/v1/products").status_code == 200
