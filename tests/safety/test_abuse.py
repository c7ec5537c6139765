"""Abuse resistance (issue 16): malformed numbers, one rate-limit budget per address and per account across the
API and the web pages, throttled password checks, no-store replies to signed-in requests, common passwords.

Every refusal is checked with the database afterwards. The limits run on the suite's database (SQLite, then
PostgreSQL) with the counters in memory and in Redis (a key prefix of the test's own, deleted afterwards).
"""

import json
import logging
import os
import secrets
import threading
import uuid

import pytest
import redis
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession, User
from app.services import expensive, passwords, sessions, wording
from tests.deploy.conftest import redis_up
from tests.factories import make_product

API = "/api/v1"
HUGE = "9" * 5000  # past Python's 4,300-digit limit for int(str)
REDIS_URL = "redis://127.0.0.1:6379/7"  # these tests' own database


def address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def huge(template: str) -> str:
    """JSON text with HUGE written in as a bare number."""
    return template.replace("HUGE", HUGE)


def via(addr: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": addr, **headers}


def raw_json(client, method: str, path: str, text: str, headers: dict | None = None):
    return client.open(path, method=method, data=text, content_type="application/json", headers=headers or {})


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["code"] == status and set(body) <= {"code", "status", "message", "errors"}
    return body


@pytest.fixture
def crashes(caplog):
    """Every record logged at ERROR or above (a crash logs one): must stay empty."""
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------ malformed numbers


class TestHugeNumbers:
    @pytest.fixture
    def app_config(self):
        # The limits read the body too (the per-account key): on, as in production.
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", "LOGIN_RATE_LIMIT": "1000/minute",
                "REGISTER_RATE_LIMIT": "1000/minute", "PROXY_FIX_HOPS": 1}

    @pytest.mark.parametrize("path, body", [
        (f"{API}/auth/login", huge('{"username": HUGE, "password": "correct-horse-1"}')),
        (f"{API}/auth/login", huge('{"username": "buyer", "password": HUGE}')),
        (f"{API}/users", huge('{"username": HUGE, "password": "correct-horse-1"}')),
        (f"{API}/users", huge('{"username": "newbie", "password": HUGE}')),
        (f"{API}/users", huge('{"username": "newbie", "password": "correct-horse-1", "role": HUGE}')),
        (f"{API}/users", huge('{"username": "newbie", "password": "correct-horse-1", "extra": -HUGE}')),
    ])
    def test_huge_integers_in_public_bodies_are_422(self, client, buyer, db_snapshot, crashes, path, body):
        before = db_snapshot()
        refused = assert_json_error(raw_json(client, "POST", path, body, via(address())), 422)
        assert refused["errors"] == {"json": ["Number too large."]}
        assert db_snapshot() == before
        assert crashes() == []

    def test_huge_integers_in_signed_in_bodies_are_422(self, client, buyer, seller, db_snapshot, crashes):
        product = make_product(seller, cost=35, amount_available=5)
        before = db_snapshot()
        for who, method, path, text in [
            (buyer, "PATCH", f"{API}/users/{buyer.id}", huge('{"currentPassword": HUGE, "password": "x"}')),
            (buyer, "POST", f"{API}/deposit", huge('{"coin": HUGE}')),
            (buyer, "POST", f"{API}/buy", huge('{"productId": 1, "expectedCost": HUGE}')),
            (seller, "PATCH", f"{API}/products/{product.id}", huge('{"cost": HUGE}')),
        ]:
            headers = {**who.headers, "Idempotency-Key": secrets.token_hex(8)}
            assert_json_error(raw_json(client, method, path, text, headers), 422)
        assert db_snapshot() == before
        assert crashes() == []

    @pytest.mark.parametrize("path", [
        f"{API}/products?page={HUGE}", f"{API}/products?page_size={HUGE}", f"{API}/products?sellerId=-{HUGE}",
        f"{API}/users?page={HUGE}", f"{API}/orders?page_size={HUGE}", f"{API}/products/{HUGE}",
        f"{API}/orders/{HUGE}/refund",
    ])
    def test_huge_integers_in_queries_and_paths_are_4xx(self, client, admin, crashes, path):
        response = client.open(path, method="POST" if path.endswith("refund") else "GET", headers=admin.headers)
        assert response.status_code in (404, 405, 422) and response.is_json
        assert crashes() == []

    @pytest.mark.parametrize("path", [f"/?page={HUGE}", f"/machine?product={HUGE}&page={HUGE}"])
    def test_huge_integers_in_web_queries_are_ignored(self, client, buyer, crashes, path):
        client.post("/login", data={"username": buyer.username, "password": buyer.password})
        response = client.get(path)
        assert response.status_code == 200
        assert crashes() == []

    def test_huge_integers_in_web_forms_are_field_errors(self, client, buyer, db_snapshot, crashes):
        before = db_snapshot()
        registered = client.post("/register", data={"username": HUGE, "password": HUGE, "confirm": HUGE,
                                                    "role": HUGE})
        assert registered.status_code == 200 and "Username must be" in registered.get_data(as_text=True)
        logged_in = client.post("/login", data={"username": HUGE, "password": HUGE})
        assert logged_in.status_code == 200 and "Field cannot be longer than" in logged_in.get_data(as_text=True)
        client.post("/login", data={"username": buyer.username, "password": buyer.password})
        deposit = client.post("/machine/deposit", data={"coin": HUGE}, follow_redirects=True)
        assert deposit.status_code == 200 and "Not a valid integer value" in deposit.get_data(as_text=True)
        bought = client.post("/machine/buy", data={"product_id": HUGE, "amount": HUGE})
        assert bought.status_code in (200, 302)  # refused on the page (its wording is the web pages' own)
        assert db_snapshot() == before
        assert crashes() == []

    def test_deeply_nested_login_is_400_and_leaves_the_limits_alone(self, client, buyer, caplog, crashes):
        nested = '{"username": ' + "[" * 5000 + "]" * 5000 + ', "password": "x"}'
        with caplog.at_level(logging.WARNING, logger="flask-limiter"):
            body = assert_json_error(raw_json(client, "POST", f"{API}/auth/login", nested, via(address())), 400)
        assert body["errors"] == {"json": ["JSON nested too deeply."]}
        assert crashes() == []
        assert not [r for r in caplog.records if "falling back" in r.getMessage()]  # the storage was not blamed

    def test_an_ended_token_with_a_key_and_an_unreadable_body_is_401(self, client, buyer, crashes):
        sessions.end_all_sessions(buyer.id)
        nested = '{"coin": ' + "[" * 5000 + "]" * 5000 + "}"
        headers = {**buyer.headers, "Idempotency-Key": "k-1"}
        for text in (nested, huge('{"coin": HUGE}')):
            assert_json_error(raw_json(client, "POST", f"{API}/deposit", text, headers), 401)
        assert crashes() == []


# ------------------------------------------------------------------ one budget per address and per account


@pytest.fixture(params=["memory", "redis"])
def limits_config(request):
    limits = {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute", "ACCOUNT_RATE_LIMIT": "3 per minute",
              "REGISTER_RATE_LIMIT": "2 per minute", "PROXY_FIX_HOPS": 1}
    if request.param == "memory":
        yield {**limits, "RATELIMIT_STORAGE_URI": "memory://"}
        return
    if not redis_up():
        pytest.skip("Redis does not answer on 127.0.0.1:6379 (.ci/run starts it)")
    # A database of these tests' own, emptied before and after: the limiter keeps the key prefix of the
    # first app it served in the process, so a prefix per test would not keep the tests apart.
    store = redis.Redis.from_url(REDIS_URL)
    try:
        store.flushdb()
        yield {**limits, "RATELIMIT_STORAGE_URI": REDIS_URL}
        assert any(b"password-checks" in key or b"registrations" in key for key in store.scan_iter(count=1000)), \
            "the counters should have been in Redis"
        store.flushdb()
    finally:
        store.close()


class TestSharedBudgets:
    @pytest.fixture
    def app_config(self, limits_config):
        return limits_config

    def api_login(self, client, username, password, addr):
        return client.post(f"{API}/auth/login", json={"username": username, "password": password},
                           headers=via(addr))

    def web_login(self, client, username, password, addr):
        return client.post("/login", data={"username": username, "password": password}, headers=via(addr))

    def test_api_and_web_logins_share_one_budget_per_account(self, client, buyer, db_snapshot):
        assert self.api_login(client, buyer.username, "wrong-password", address()).status_code == 401
        assert self.web_login(client, buyer.username, "wrong-password", address()).status_code == 200
        assert self.api_login(client, buyer.username.upper(), "wrong-password", address()).status_code == 401
        before = db_snapshot()
        refused = self.web_login(client, buyer.username, buyer.password, address())  # even the right password
        assert refused.status_code == 429 and "Too many sign-in attempts" in refused.get_data(as_text=True)
        assert_json_error(self.api_login(client, buyer.username, buyer.password, address()), 429)
        assert db_snapshot() == before
        assert self.api_login(client, "someone-else", "wrong-password", address()).status_code == 401

    def test_api_and_web_logins_share_one_budget_per_address(self, client, buyer):
        addr = address()
        assert self.web_login(client, "first", "wrong-password", addr).status_code == 200
        assert self.api_login(client, "second", "wrong-password", addr).status_code == 401
        assert self.web_login(client, "third", "wrong-password", addr).status_code == 200
        refused = self.api_login(client, buyer.username, buyer.password, addr)
        body = assert_json_error(refused, 429)
        wait = wording.wait(int(refused.headers["Retry-After"]))
        assert body["message"] == f"Too many sign-in attempts; wait {wait} and try again"
        assert self.api_login(client, buyer.username, buyer.password, address()).status_code == 200

    def test_api_and_web_registrations_share_one_budget_per_address(self, client, db_snapshot):
        addr = address()
        made = client.post(f"{API}/users", json={"username": "api-made", "password": "correct-horse-1"},
                           headers=via(addr))
        assert made.status_code == 201
        web = client.post("/register", data={"username": "web-made", "password": "correct-horse-1",
                                             "confirm": "correct-horse-1", "role": "buyer"}, headers=via(addr))
        assert web.status_code == 302
        client.post("/logout", headers=via(addr))
        before = db_snapshot()
        assert_json_error(client.post(f"{API}/users", json={"username": "third", "password": "correct-horse-1"},
                                      headers=via(addr)), 429)
        refused = client.post("/register", data={"username": "fourth", "password": "correct-horse-1",
                                                 "confirm": "correct-horse-1", "role": "buyer"}, headers=via(addr))
        assert refused.status_code == 429 and "Too many accounts" in refused.get_data(as_text=True)
        assert db_snapshot() == before

    def test_password_changes_are_throttled_per_account_with_its_logins(self, client, make_account, db_snapshot):
        ann = make_account("buyer", "ann", "ann-password")
        other_session = sessions.open_session(ann.id, kind="api", ttl_seconds=60, idle_seconds=3600,
                                              user_agent="x", client_address=None)
        assert self.api_login(client, "ann", "wrong-password", address()).status_code == 401
        for _ in range(2):
            answer = client.patch(f"{API}/users/{ann.id}", headers=via(address(), **ann.headers),
                                  json={"currentPassword": "wrong-password", "password": "a-new-password-2"})
            assert_json_error(answer, 422)
        before = db_snapshot()
        hash_before = db.session.scalar(select(User.password_hash).where(User.id == ann.id))
        refused = client.patch(f"{API}/users/{ann.id}", headers=via(address(), **ann.headers),
                               json={"currentPassword": "ann-password", "password": "a-new-password-2"})
        body = assert_json_error(refused, 429)
        assert int(refused.headers["Retry-After"]) > 0
        wait = wording.wait(int(refused.headers["Retry-After"]))
        assert body["message"] == f"Too many password attempts; wait {wait} and try again"
        assert_json_error(self.api_login(client, "ann", "ann-password", address()), 429)
        db.session.rollback()
        assert db_snapshot() == before
        assert db.session.scalar(select(User.password_hash).where(User.id == ann.id)) == hash_before
        assert db.session.get(AuthSession, other_session.session_id) is not None  # no session was ended

    def test_password_changes_are_throttled_per_address_with_logins(self, client, make_account):
        ann, bob = make_account("buyer", "ann"), make_account("buyer", "bob")
        addr = address()
        assert self.api_login(client, "carol", "wrong-password", addr).status_code == 401
        for who in (ann, bob):
            answer = client.patch(f"{API}/users/{who.id}", headers=via(addr, **who.headers),
                                  json={"currentPassword": "wrong-password", "password": "a-new-password-2"})
            assert answer.status_code == 422
        answer = client.patch(f"{API}/users/{ann.id}", headers=via(addr, **ann.headers),
                              json={"currentPassword": ann.password, "password": "a-new-password-2"})
        assert_json_error(answer, 429)

    def test_requests_without_a_token_spend_no_account_budget(self, client, buyer):
        for _ in range(5):
            answer = client.patch(f"{API}/users/{buyer.id}", headers=via(address()),
                                  json={"currentPassword": "wrong-password", "password": "a-new-password-2"})
            assert_json_error(answer, 401)
        assert self.api_login(client, buyer.username, buyer.password, address()).status_code == 200


# ------------------------------------------------------------------ argon2 slots per worker


class SlowHasher:
    """Stands in for argon2: holds a slot until released, and notes the thread's nice value."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.niceness: list[int] = []

    def _hold(self) -> None:
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        self.entered.set()
        assert self.release.wait(30)

    def verify(self, _hash: str, _password: str) -> bool:
        self._hold()
        return True

    def hash(self, password: str) -> str:
        self._hold()
        return passwords._FAST.hash(password)


@pytest.fixture
def slow(app, monkeypatch):
    hasher = SlowHasher()
    monkeypatch.setitem(passwords._state, "hasher", hasher)
    yield hasher
    hasher.release.set()


class TestPasswordSlots:
    @pytest.fixture
    def app_config(self):
        return {"PASSWORD_CHECKS_PER_WORKER": 1}

    def test_a_password_check_beyond_the_workers_slots_is_503_and_changes_nothing(
            self, app, client, buyer, slow, db_snapshot, crashes):
        first = {}
        holder = threading.Thread(target=lambda: first.setdefault("answer", app.test_client().post(
            f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password})))
        holder.start()
        assert slow.entered.wait(10)
        before = db_snapshot()
        attempts = [
            client.post(f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password}),
            client.post(f"{API}/users", json={"username": "newbie", "password": "correct-horse-1"}),
            client.patch(f"{API}/users/{buyer.id}", headers=buyer.headers,
                         json={"currentPassword": buyer.password, "password": "a-new-password-2"}),
        ]
        for refused in attempts:
            body = assert_json_error(refused, 503)
            assert body["message"] == expensive.BUSY_MESSAGE
            assert refused.headers["Retry-After"] == "1"
        web = client.post("/login", data={"username": buyer.username, "password": buyer.password})
        assert web.status_code == 200 and expensive.BUSY_MESSAGE in web.get_data(as_text=True)  # by the field
        assert db_snapshot() == before
        slow.release.set()
        holder.join(10)
        assert first["answer"].status_code == 200  # the check that held the slot went through
        assert client.post(f"{API}/auth/login", json={"username": buyer.username,
                                                      "password": buyer.password}).status_code == 200
        assert crashes() == []

    def test_hashing_runs_at_a_lower_priority(self, client, buyer, slow):
        slow.release.set()
        assert client.post(f"{API}/auth/login", json={"username": buyer.username,
                                                      "password": buyer.password}).status_code == 200
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert slow.niceness == [min(own + expensive.NICENESS, 19)]


class TestPasswordSlotsUnderRateLimits:
    @pytest.fixture
    def app_config(self):
        return {"PASSWORD_CHECKS_PER_WORKER": 1, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "10 per minute"}

    def test_a_busy_refusal_keeps_its_short_retry_after_when_rate_limits_are_on(self, app, client, buyer, slow):
        """The rate limiter must not stamp its window's reset (up to a minute) on a 503 or on a success: a client
        told to wait 60 s for a busy password check would give up on a machine that is free in a second."""
        holder = threading.Thread(target=lambda: app.test_client().post(
            f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password}))
        holder.start()
        assert slow.entered.wait(10)
        refused = client.post(f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password})
        assert_json_error(refused, 503)
        assert refused.headers["Retry-After"] == "1"
        slow.release.set()
        holder.join(10)
        accepted = client.post(f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password})
        assert accepted.status_code == 200 and accepted.get_json()["token"]
        assert "Retry-After" not in accepted.headers


# ------------------------------------------------------------------ Cache-Control on signed-in replies


def test_signed_in_api_replies_are_no_store(client, buyer, seller):
    product = make_product(seller, cost=35, amount_available=5)
    for method, path in [("GET", f"{API}/users/me"), ("GET", f"{API}/deposit"), ("GET", f"{API}/orders"),
                         ("GET", f"{API}/auth/sessions"), ("GET", f"{API}/products"),
                         ("GET", f"{API}/products/{product.id}"), ("POST", f"{API}/reset"),
                         ("GET", f"{API}/machine/coins"), ("GET", f"{API}/orders/999")]:
        response = client.open(path, method=method, headers=buyer.headers)
        assert response.status_code in (200, 403, 404), path
        assert response.headers["Cache-Control"] == "no-store", path
    ended = client.get(f"{API}/users/me", headers={"Authorization": "Bearer vm_not-a-token"})
    assert ended.status_code == 401 and ended.headers["Cache-Control"] == "no-store"


def test_signed_in_web_pages_are_no_store(client, buyer, admin):
    client.post("/login", data={"username": buyer.username, "password": buyer.password})
    for path in ("/machine", "/sessions", "/"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    client.post("/logout")
    client.post("/login", data={"username": admin.username, "password": admin.password})
    assert client.get("/admin/users").headers["Cache-Control"] == "no-store"


def test_the_api_login_reply_a_bearer_token_is_no_store(client, buyer):
    """The login request carries no credential, but its reply does."""
    response = client.post(f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password})
    assert response.status_code == 200 and response.get_json()["token"].startswith("vm_")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers.getlist("Cache-Control") == ["no-store"]


def test_web_replies_that_set_the_session_cookie_are_no_store(app, client, buyer):
    """The web login and registration hand out the session cookie; a form page starts a session for its CSRF
    token. Each such reply is no-store, whatever else the view said about caching."""
    app.config["WTF_CSRF_ENABLED"] = True
    form_page = client.get("/login")
    assert form_page.headers.getlist("Set-Cookie") and form_page.headers["Cache-Control"] == "no-store"
    app.config["WTF_CSRF_ENABLED"] = False
    registered = app.test_client().post("/register", data={"username": "newcomer", "password": "plover-anvil-sky-9",
                                                           "confirm": "plover-anvil-sky-9", "role": "buyer"})
    assert registered.status_code == 302 and registered.headers["Location"] == "/home"
    assert registered.headers.getlist("Set-Cookie") and registered.headers.getlist("Cache-Control") == ["no-store"]
    signed_in = client.post("/login", data={"username": buyer.username, "password": buyer.password})
    assert signed_in.status_code == 302 and signed_in.headers.getlist("Set-Cookie")
    assert signed_in.headers.getlist("Cache-Control") == ["no-store"]


def test_a_cookie_set_on_a_public_reply_makes_it_no_store():
    from app.security import with_security_headers

    headers = with_security_headers([("Cache-Control", "public, max-age=60"), ("Set-Cookie", "session=x")], False)
    assert [value for name, value in headers if name == "Cache-Control"] == ["no-store"]
    public = with_security_headers([("Cache-Control", "public, max-age=60")], False)
    assert [value for name, value in public if name == "Cache-Control"] == ["public, max-age=60"]


def test_public_replies_keep_their_caching(client, seller):
    product = make_product(seller, cost=35, amount_available=5)
    from app.services import images
    from tests.web.conftest import png_bytes

    images.set_product_image(seller.actor, product.id, png_bytes(), max_bytes=1024 * 1024)
    for path in ("/", f"{API}/products", f"{API}/products/{product.id}"):
        assert "no-store" not in client.get(path).headers.get("Cache-Control", ""), path
    picture = client.get(f"{API}/products/{product.id}/image")
    assert picture.status_code == 200 and picture.headers["Cache-Control"] == "public, max-age=86400"


# ------------------------------------------------------------------ common passwords


@pytest.mark.parametrize("password", ["12345678", "password", "password1", "qwertyuiop", "iloveyou1",
                                      "aaaaaaaaaaaa", "abcdefgh", "newbie2024"])
def test_common_passwords_are_refused_with_a_field_error(client, db_snapshot, password):
    before = db_snapshot()
    body = assert_json_error(client.post(f"{API}/users", json={"username": "newbie", "password": password}), 422)
    message = body["errors"]["json"]["password"][0]
    assert message.startswith("Password is too common or too easy to guess")
    assert db_snapshot() == before


def test_common_passwords_are_refused_next_to_the_field_on_the_web(client, db_snapshot):
    before = db_snapshot()
    page = client.post("/register", data={"username": "newbie", "password": "password1", "confirm": "password1",
                                          "role": "buyer"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Password is too common or too easy to guess" in html
    assert 'id="password"' in html and "is-invalid" in html
    assert db_snapshot() == before


def test_a_new_password_must_not_be_common_either(client, make_account, db_snapshot):
    ann = make_account("buyer", "ann", "ann-password")
    before = db_snapshot()
    body = assert_json_error(client.patch(f"{API}/users/{ann.id}", headers=ann.headers,
                                          json={"currentPassword": "ann-password", "password": "12345678"}), 422)
    assert "password" in body["errors"]["json"]
    assert db_snapshot() == before


def test_existing_accounts_with_common_passwords_still_log_in(client):
    user = User(username="oldtimer", username_key="oldtimer", role="buyer",
                password_hash=passwords.hash_password("password"))
    db.session.add(user)
    db.session.commit()
    answer = client.post(f"{API}/auth/login", json={"username": "oldtimer", "password": "password"})
    assert answer.status_code == 200 and answer.get_json()["token"]
    assert json.dumps(answer.get_json()).count("password") == 0
