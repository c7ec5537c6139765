import io

import flask_babel
import pytest
from flask import g
from PIL import Image


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app):
    """The app fixture keeps one app context (and so one `g`) for the whole test; a real server
    gets a new one per request. Drop Flask-Login's cached user and Flask-Babel's locale and time zone so every
    request chooses them again."""

    def forget_user() -> None:
        g.pop("_login_user", None)
        flask_babel.refresh()

    app.before_request_funcs.setdefault(None, []).insert(0, forget_user)


@pytest.fixture
def web_login(client):
    """Log the test client in through the login form as an Account; returns the response."""

    def login(account, follow=False):
        return client.post(
            "/login",
            data={"username": account.username, "password": account.password},
            follow_redirects=follow,
        )

    return login


def png_bytes(size=(40, 30), color=(200, 30, 30), **save_args) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG", **save_args)
    return out.getvalue()


@pytest.fixture
def png():
    return png_bytes
