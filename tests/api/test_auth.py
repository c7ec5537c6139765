"""Login, tokens and the session registry (the bonus)."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuthSession
from app.services.sessions import ACTIVE_SESSION_MESSAGE
from tests.api.conftest import API, assert_401, assert_error

LOGIN_FIELDS = {"token", "tokenType", "expiresAt", "user", "activeSessions"}
SESSION_FIELDS = {"id", "kind", "createdAt", "lastSeenAt", "userAgent", "clientNetwork", "current"}


def login(client, username="ann", password="ann-password", **headers):
    return client.post(f"{API}/auth/login", json={"username": username, "password": password}, headers=headers)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def session_rows(user_id: int) -> list[AuthSession]:
    db.session.rollback()
    return list(db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)))


@pytest.fixture
def ann(make_account):
    return make_account("buyer", "ann", "ann-password")


def test_login_returns_a_bearer_token_stored_only_as_a_hash(client, make_account):
    user = make_account("seller", "ann", "ann-password")
    db.session.execute(AuthSession.__table__.delete())
    db.session.commit()

    response = login(client, "ANN")

    assert response.status_code == 200
    body = response.json
    assert set(body) == LOGIN_FIELDS  # no message: no other session was active
    assert body["tokenType"] == "Bearer" and body["activeSessions"] == 1
    assert body["user"] == {"id": user.id, "username": "ann", "role": "seller", "deposit": 0,
                            "createdAt": body["user"]["createdAt"]}
    assert len(body["token"]) >= 43  # 256 bits of url-safe base64
    expires = datetime.fromisoformat(body["expiresAt"])
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=12)
    rows = session_rows(user.id)
    assert len(rows) == 1 and rows[0].kind == "api"
    assert rows[0].token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert client.get(f"{API}/users/me", headers=bearer(body["token"])).json["id"] == user.id


def test_second_login_warns_about_the_active_session(client, ann):
    response = login(client)

    assert response.status_code == 200
    assert response.json["message"] == ACTIVE_SESSION_MESSAGE == "There is already an active session using your account"
    assert response.json["activeSessions"] == 2
    third = login(client)
    assert third.json["activeSessions"] == 3 and third.json["message"] == ACTIVE_SESSION_MESSAGE
    assert len(session_rows(ann.id)) == 3


@pytest.mark.parametrize("username, password", [("ann", "wrong-password"), ("nobody", "ann-password")])
def test_login_failure_is_uniform_401(client, ann, username, password):
    body = assert_401(login(client, username, password))
    assert body["message"] == "Invalid username or password"
    assert len(session_rows(ann.id)) == 1


@pytest.mark.parametrize("payload", [{"username": "ann"}, {"username": "ann", "password": "ann-password", "x": 1},
                                     {"username": "", "password": "p"}, {"username": 1, "password": "ann-password"}])
def test_login_rejects_invalid_input(client, ann, payload):
    assert_error(client.post(f"{API}/auth/login", json=payload), 422)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YW5uOmFubi1wYXNzd29yZA=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Token abc"},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer " + "x" * 600},
    ],
)
def test_missing_malformed_or_unknown_token_is_401(client, ann, headers):
    body = assert_401(client.get(f"{API}/users/me", headers=headers))
    assert body["message"]


def test_expired_token_is_401(client, ann):
    db.session.execute(update(AuthSession).where(AuthSession.id == ann.session_id)
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()

    assert_401(client.get(f"{API}/users/me", headers=ann.headers))
    assert_401(client.post(f"{API}/deposit", json={"coin": 5}, headers=ann.headers))


@pytest.mark.parametrize("app_config", [{"AUTH_TOKEN_TTL_SECONDS": 0}])
def test_token_ttl_comes_from_config(client, ann):
    response = login(client)
    assert response.status_code == 200
    assert_401(client.get(f"{API}/users/me", headers=bearer(response.json["token"])))


def test_logout_ends_only_this_token(client, ann):
    second = login(client).json["token"]

    response = client.post(f"{API}/auth/logout", headers=bearer(second))

    assert response.status_code == 204 and response.data == b""
    assert_401(client.get(f"{API}/users/me", headers=bearer(second)))
    assert_401(client.post(f"{API}/auth/logout", headers=bearer(second)))
    assert client.get(f"{API}/users/me", headers=ann.headers).status_code == 200
    assert [s.id for s in session_rows(ann.id)] == [ann.session_id]


def test_logout_all_ends_every_session_of_the_account(client, ann, other_buyer):
    tokens = [ann.token, login(client).json["token"], login(client).json["token"]]

    response = client.post(f"{API}/auth/logout/all", headers=ann.headers)

    assert response.status_code == 200 and response.json == {"revoked": 3}
    for token in tokens:
        assert_401(client.get(f"{API}/users/me", headers=bearer(token)))
    assert session_rows(ann.id) == []
    assert client.get(f"{API}/users/me", headers=other_buyer.headers).status_code == 200


def test_sessions_lists_own_sessions_and_marks_the_current_one(client, ann, other_buyer):
    second = login(client, **{"User-Agent": "curl/8"}).json["token"]

    response = client.get(f"{API}/auth/sessions", headers=bearer(second))

    assert response.status_code == 200
    assert all(set(s) == SESSION_FIELDS for s in response.json)
    by_id = {s["id"]: s for s in response.json}
    assert set(by_id) == {s.id for s in session_rows(ann.id)} and len(by_id) == 2
    assert by_id[ann.session_id]["current"] is False and by_id[ann.session_id]["userAgent"] == "pytest"
    current = [s for s in response.json if s["current"]]
    assert len(current) == 1 and current[0]["userAgent"] == "curl/8" and current[0]["kind"] == "api"
    assert current[0]["clientNetwork"] == "127.0.0.0/24"  # the test client's 127.0.0.1, its last part left out
    assert by_id[ann.session_id]["clientNetwork"] is None  # opened by the fixture, with no address
    datetime.fromisoformat(current[0]["createdAt"])
    datetime.fromisoformat(current[0]["lastSeenAt"])
    assert other_buyer.session_id not in by_id


def test_ending_one_of_my_sessions(client, ann):
    second = login(client).json["token"]

    response = client.delete(f"{API}/auth/sessions/{ann.session_id}", headers=bearer(second))

    assert response.status_code == 204
    assert_401(client.get(f"{API}/users/me", headers=ann.headers))
    assert client.get(f"{API}/users/me", headers=bearer(second)).status_code == 200


def test_ending_someone_elses_session_is_404(client, ann, other_buyer):
    assert_error(client.delete(f"{API}/auth/sessions/{other_buyer.session_id}", headers=ann.headers), 404)
    assert_error(client.delete(f"{API}/auth/sessions/99999", headers=ann.headers), 404)
    assert client.get(f"{API}/users/me", headers=other_buyer.headers).status_code == 200
