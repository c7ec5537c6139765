"""Configuration checked at start: typed variables, one-line refusals naming the culprit, `flask config`."""

import logging
import subprocess
import sys

import pytest

import config
from app import create_app
from tests.deploy.conftest import GUNICORN, ROOT, free_port

PRODUCTION = {"APP_CONFIG": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite:////tmp/vending-cfg.db",
              "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}


@pytest.fixture
def environment(monkeypatch):
    """Set exactly these app variables (every other one of Settings unset)."""

    def set_(**values: str) -> None:
        for name in config.Settings.model_fields:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


BAD = {
    "AUTH_TOKEN_TTL_SECONDS": ("12h", "whole number of seconds"),
    "SESSION_IDLE_TIMEOUT_SECONDS": ("30", "60 or more"),  # shorter than the once-a-minute record of activity
    "LOGIN_RATE_LIMIT": ("ten a minute", "rate limit such as"),
    "REGISTER_RATE_LIMIT": ("20 a minute", "rate limit such as"),
    "ACCOUNT_RATE_LIMIT": ("thirty a minute", "rate limit such as"),
    "UPLOAD_RATE_LIMIT": ("10 per fortnight", "rate limit such as"),
    "SESSION_COOKIE_SECURE": ("ture", "boolean"),
    "RATELIMIT_ENABLED": ("maybe", "boolean"),
    "APP_CONFIG": ("prod", "development or production"),
    "DB_POOL_SIZE": ("0", "1 or more"),
    "PROXY_FIX_HOPS": ("-1", "0 or more"),
    "CACHE_VERSIONS": ("memcached://x", "redis://"),
    "DATABASE_URL": ("not a url", "database URL"),
}


@pytest.mark.parametrize("name", BAD)
def test_a_bad_value_is_one_line_naming_the_variable_and_what_it_expects(environment, name):
    value, expects = BAD[name]
    environment(**{name: value})
    with pytest.raises(config.ConfigError) as refused:
        config.from_environment()
    message = str(refused.value)
    assert "\n" not in message
    assert f"{name}={value!r}: expected " in message and expects in message


def test_every_bad_variable_is_named_at_once(environment):
    environment(AUTH_TOKEN_TTL_SECONDS="12h", LOGIN_RATE_LIMIT="ten a minute")
    with pytest.raises(config.ConfigError, match="AUTH_TOKEN_TTL_SECONDS='12h'.*; LOGIN_RATE_LIMIT='ten a minute'"):
        config.DevelopmentConfig()


def test_secrets_are_not_echoed_in_the_refusal(environment):
    environment(SENTRY_DSN="", DATABASE_URL="postgresql+psycopg://u:hunter2@/", DB_POOL_SIZE="x")
    with pytest.raises(config.ConfigError) as refused:
        config.DevelopmentConfig()
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("value, parsed", [("1", True), ("true", True), ("on", True), ("YES", True),
                                           ("0", False), ("false", False), ("off", False), ("no", False)])
def test_booleans_take_the_usual_spellings(environment, value, parsed):
    environment(SESSION_COOKIE_SECURE=value, RATELIMIT_ENABLED=value)
    settings = config.DevelopmentConfig()
    assert settings.SESSION_COOKIE_SECURE is parsed and settings.RATELIMIT_ENABLED is parsed


def test_defaults_and_empty_values(environment):
    environment(AUTH_TOKEN_TTL_SECONDS="", LOGIN_RATE_LIMIT="5/minute;50/hour")
    settings = config.DevelopmentConfig()
    assert settings.AUTH_TOKEN_TTL_SECONDS == 43200
    assert settings.REFUND_WINDOW_SECONDS == 900 and settings.IDEMPOTENCY_TTL_SECONDS == 86400
    assert settings.MAX_CONTENT_LENGTH == 65536 and settings.REGISTER_RATE_LIMIT == "20 per minute"
    assert (settings.DB_POOL_SIZE, settings.DB_MAX_OVERFLOW, settings.DB_POOL_TIMEOUT_SECONDS) == (5, 5, 5)
    assert settings.CACHE_MAX_AGE_SECONDS == 5 and settings.DB_PING_AFTER_IDLE_SECONDS == 1
    assert settings.LOGIN_RATE_LIMIT == "5/minute;50/hour"
    assert settings.SQLALCHEMY_DATABASE_URI is None and settings.SESSION_COOKIE_SECURE is False


def test_production_needs_an_explicit_database_url(environment):
    environment(**{**PRODUCTION, "DATABASE_URL": ""})
    with pytest.raises(config.ConfigError, match="DATABASE_URL must be set"):
        create_app(config.from_environment())
    environment(**{**PRODUCTION, "DATABASE_URL": "sqlite:////tmp/vending-cfg.db"})  # SQLite, spelled out
    assert create_app(config.from_environment()).config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/vending-cfg.db"


def test_production_refuses_per_process_rate_limits_unless_written_out(environment, caplog):
    environment(**{**PRODUCTION, "RATELIMIT_STORAGE_URI": ""})
    with pytest.raises(config.ConfigError, match="RATELIMIT_STORAGE_URI must be set"):
        create_app(config.from_environment())

    environment(**{**PRODUCTION, "RATELIMIT_STORAGE_URI": "memory://"})
    with caplog.at_level(logging.WARNING, logger="app"):
        app = create_app(config.from_environment())
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("RATELIMIT_STORAGE_URI=memory://" in w and "each worker process" in w for w in warnings)

    caplog.clear()
    environment(**{**PRODUCTION, "RATELIMIT_STORAGE_URI": "", "RATELIMIT_ENABLED": "0"})  # no limits: no storage
    with caplog.at_level(logging.WARNING, logger="app"):
        create_app(config.from_environment())
    assert not [r for r in caplog.records if "RATELIMIT" in r.getMessage()]


def test_development_keeps_memory_counters_without_a_word(environment, caplog):
    environment()
    with caplog.at_level(logging.WARNING, logger="app"):
        app = create_app(config.from_environment(), SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert not [r for r in caplog.records if "RATELIMIT" in r.getMessage()]


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "FLASK_APP": "run.py", **env})


def test_flask_config_prints_the_effective_settings_with_secrets_masked():
    env = {**PRODUCTION, "SECRET_KEY": "k" * 40, "DATABASE_URL": "postgresql+psycopg://vending:hunter2@db:5432/v",
           "SENTRY_DSN": "https://abcdef123@o1.ingest.sentry.io/2", "LOGIN_RATE_LIMIT": "7 per minute",
           "RATELIMIT_STORAGE_URI": "redis://:redispw@cache:6379/0"}
    result = run_flask(env, "config")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for secret in ("k" * 40, "hunter2", "abcdef123", "redispw"):
        assert secret not in out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(config.Settings.model_fields) <= set(lines)
    assert "postgresql+psycopg://vending:***@db:5432/v" in lines["DATABASE_URL"]
    assert "7 per minute" in lines["LOGIN_RATE_LIMIT"] and "(environment)" in lines["LOGIN_RATE_LIMIT"]
    assert "43200" in lines["AUTH_TOKEN_TTL_SECONDS"] and "(default)" in lines["AUTH_TOKEN_TTL_SECONDS"]
    assert "7200" in lines["SESSION_IDLE_TIMEOUT_SECONDS"] and "(default)" in lines["SESSION_IDLE_TIMEOUT_SECONDS"]
    assert "True" in lines["SESSION_COOKIE_SECURE"]  # production's default, as in effect


def test_a_bad_value_stops_flask_with_one_line():
    result = run_flask({"APP_CONFIG": "prod"}, "config")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "vending: invalid configuration: APP_CONFIG='prod': expected development or production"]


@pytest.mark.skipif(not GUNICORN.exists(), reason="needs gunicorn in the virtualenv")
def test_a_bad_value_stops_gunicorn_with_one_line(tmp_path):
    env = {**PRODUCTION, "PATH": "/usr/bin:/bin", "AUTH_TOKEN_TTL_SECONDS": "12h",
           "GUNICORN_BIND": f"127.0.0.1:{free_port()}", "GUNICORN_WORKERS": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run([str(GUNICORN), "-c", "gunicorn_cfg.py", "run:app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    refusal = [line for line in result.stderr.splitlines() if "AUTH_TOKEN_TTL_SECONDS" in line]
    assert refusal == ["vending: invalid configuration: AUTH_TOKEN_TTL_SECONDS='12h': "
                       "expected a whole number of seconds above 0, e.g. 43200"]
