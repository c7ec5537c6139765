"""The web login and registration forms share the API's rate limits."""

import pytest

from app.extensions import limiter


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute", "ACCOUNT_RATE_LIMIT": "3 per minute",
            "REGISTER_RATE_LIMIT": "2 per minute"}


@pytest.fixture(autouse=True)
def _clean_counters(app):
    limiter.reset()
    yield
    limiter.reset()


def test_login_form_is_rate_limited_per_username(client, buyer):
    for _ in range(3):
        assert client.get("/login").status_code == 200  # looking at the form does not count
        response = client.post("/login", data={"username": "buyer", "password": "wrong-password"})
        assert "Invalid username or password" in response.get_data(as_text=True)
        assert "Retry-After" not in response.headers  # only a refusal says when to come back
    refused = client.post("/login", data={"username": "buyer", "password": buyer.password})
    assert refused.status_code == 429
    assert "Too many sign-in attempts" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert client.get("/machine").headers["Location"].startswith("/login")


def test_registration_form_is_rate_limited(client):
    for n in range(2):
        client.post("/register", data={"username": f"user{n}", "password": "long-password",
                                       "confirm": "long-password", "role": "buyer"})
        client.post("/logout")
    refused = client.post("/register", data={"username": "user9", "password": "long-password",
                                             "confirm": "long-password", "role": "buyer"})
    assert refused.status_code == 429 and "Too many accounts" in refused.get_data(as_text=True)
