"""Security headers on every response, ProxyFix trust, cookie flags and production config refusals."""

import base64
import hashlib
import re

import pytest

import config
from app import create_app
from app.security import CSP

STRICT_CSP_PARTS = ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
                    "form-action 'self'", "img-src 'self' data:"]


def assert_common_headers(response):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/api/v1/products", 200),
        ("GET", "/api/v1/users/me", 401),
        ("GET", "/api/v1/nope", 404),
        ("DELETE", "/api/v1/products", 405),
        ("GET", "/api/openapi.json", 200),
        ("GET", "/healthz", 200),
    ],
)
def test_every_response_has_the_strict_policy(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert_common_headers(response)
    csp = response.headers["Content-Security-Policy"]
    assert csp == CSP
    for part in STRICT_CSP_PARTS:
        assert part in csp
    assert "unsafe" not in csp
    assert "Strict-Transport-Security" not in response.headers


def test_swagger_page_allows_exactly_its_own_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert_common_headers(response)
    csp = response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    script_src = re.search(r"script-src ([^;]*)", csp).group(1).split()
    assert script_src == ["'self'", f"'sha256-{digest}'"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in csp


def test_swagger_assets_get_the_strict_policy_without_being_read(client):
    with client.get("/api/docs/swagger-ui-bundle.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.headers["Content-Security-Policy"] == CSP


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    secure = client.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.fixture
def app_config():
    return {"PROXY_FIX_HOPS": 1}


def test_proxy_headers_from_one_hop_are_trusted(app, client):
    seen = {}

    @app.get("/_probe")
    def probe():
        from flask import request

        seen.update(addr=request.remote_addr, secure=request.is_secure)
        return {}

    response = client.get(
        "/_probe", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 200
    # Only the right-most entry (the one nginx appended) is believed.
    assert seen == {"addr": "203.0.113.9", "secure": True}
    assert "Strict-Transport-Security" in response.headers


def test_without_proxy_fix_forwarded_headers_are_ignored(database_url, _schema, make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    seen = {}

    @app.get("/_probe")
    def probe():
        from flask import request

        seen.update(addr=request.remote_addr, secure=request.is_secure)
        return {}

    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    response = app.test_client().get("/_probe", headers=forged)
    assert response.status_code == 200
    assert seen == {"addr": "127.0.0.1", "secure": False}
    assert "Strict-Transport-Security" not in response.headers


def test_production_cookies_are_secure_httponly_lax(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/vending-cookie-test.db")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    prod = config.ProductionConfig()
    prod.validate()
    cookie = (prod.SESSION_COOKIE_SECURE, prod.SESSION_COOKIE_HTTPONLY, prod.SESSION_COOKIE_SAMESITE)
    assert cookie == (True, True, "Lax")
    assert prod.REMEMBER_COOKIE_SECURE is True and prod.REMEMBER_COOKIE_HTTPONLY is True


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": config.DEFAULT_SECRET_KEY}, "SECRET_KEY"),
        ({"SECRET_KEY": "short-but-not-default"}, "SECRET_KEY"),
        ({"SECRET_KEY": "k" * 40, "FLASK_DEBUG": "1"}, "FLASK_DEBUG"),
    ],
)
def test_production_refuses_default_secret_and_debug(monkeypatch, env, message):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=message):
        create_app(config.ProductionConfig(), SQLALCHEMY_DATABASE_URI="sqlite://")


def test_run_py_picks_production_from_app_config(monkeypatch, tmp_path):
    import subprocess
    import sys

    from tests.deploy.conftest import ROOT

    code = "import run; print(run.app.config['SESSION_COOKIE_SECURE'], run.app.config['PREFERRED_URL_SCHEME'])"
    env = {"APP_CONFIG": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
           "RATELIMIT_STORAGE_URI": "memory://", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "https"]
    refused = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "SECRET_KEY": ""},
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr


def test_the_headers_replace_any_of_the_same_name_but_keep_a_page_s_own_policy():
    from app.security import with_security_headers

    headers = [("Content-Type", "text/html"), ("x-frame-options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff")]
    merged = with_security_headers(headers, secure=False)
    names = [name.lower() for name, _ in merged]
    assert sorted(names) == sorted(["content-type", "x-content-type-options", "referrer-policy", "x-frame-options",
                                    "cross-origin-opener-policy", "content-security-policy"])
    assert dict(merged)["X-Frame-Options"] == "DENY" and dict(merged)["Content-Security-Policy"] == CSP

    own = with_security_headers([("Content-Security-Policy", "default-src 'none'")], secure=True)
    assert [value for name, value in own if name == "Content-Security-Policy"] == ["default-src 'none'"]
    assert dict(own)["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_a_view_that_sets_one_of_the_headers_sends_it_once(client, seller):
    from app.services import images
    from tests.factories import make_product
    from tests.web.conftest import png_bytes

    product_id = make_product(seller).id
    images.set_product_image(seller.actor, product_id, png_bytes(), max_bytes=1 << 20)
    response = client.get(f"/api/v1/products/{product_id}/image")
    assert (response.status_code, response.mimetype) == (200, "image/png")
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("Content-Security-Policy") == [CSP]
