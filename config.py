"""Configuration: every environment variable typed and checked once, at start (pydantic-settings).

`Settings` is the one list of the variables the app reads, with their types, defaults and what a good
value looks like. A bad value stops the start with one line naming the variable and what it expects
(`ConfigError`; run.py turns it into that line and exit status 1). The config classes below copy the
settings into the attribute names Flask and its extensions use; tests build them per test
(`create_app(config.TestConfig(), **overrides)`). `flask config` prints the effective settings, secrets masked.
"""

import os
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

import limits
from pydantic import AfterValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"


class ConfigError(RuntimeError):
    """A setting the app cannot start with. Its message is one line naming the variable(s)."""


def _rate_limit(value: str) -> str:
    limits.parse_many(value)  # ValueError for anything Flask-Limiter could not parse either
    return value


def _database_url(value: str | None) -> str | None:
    if value is not None:
        try:
            make_url(value)
        except ArgumentError as error:
            raise ValueError(str(error)) from None
    return value


def _versions_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://", "file://")):
        raise ValueError("not a redis:// or file:// URL")
    return value


def _storage_url(value: str) -> str:
    if "://" not in value:
        raise ValueError("not a storage URL")
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


def setting(default, expects: str, **constraints):
    """A variable with its default and, for the error line, what a good value looks like."""
    return Field(default, description=expects, **constraints)


class Settings(BaseSettings):
    """Every environment variable the app reads. Empty values count as unset."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore",
                                      hide_input_in_errors=True)

    APP_CONFIG: Literal["development", "production"] = setting(
        "development", "development or production")
    SECRET_KEY: SecretStr = setting(
        SecretStr(DEFAULT_SECRET_KEY), "32 or more random characters (required in production)")
    DATABASE_URL: Annotated[str | None, AfterValidator(_database_url)] = setting(
        None, "a database URL such as postgresql+psycopg://user:password@host:5432/vending "
              "or sqlite:////srv/vending/vending.db (required in production)")
    AUTH_TOKEN_TTL_SECONDS: int = setting(12 * 3600, "a whole number of seconds above 0, e.g. 43200", gt=0)
    SESSION_IDLE_TIMEOUT_SECONDS: int = setting(
        2 * 3600, "a whole number of seconds, 60 or more, e.g. 7200 (activity is recorded once a minute)", ge=60)
    REFUND_WINDOW_SECONDS: int = setting(900, "a whole number of seconds, 0 or more, e.g. 900", ge=0)
    IDEMPOTENCY_TTL_SECONDS: int = setting(24 * 3600, "a whole number of seconds above 0, e.g. 86400", gt=0)
    INITIAL_FLOAT: int = setting(20, "a whole number of coins of each kind, 0 or more", ge=0)
    MAX_DEPOSIT_CENTS: int = setting(100_000, "a whole number of cents above 0", gt=0)
    MAX_CONTENT_LENGTH: int = setting(64 * 1024, "a whole number of bytes above 0", gt=0)
    MAX_IMAGE_BYTES: int = setting(1024 * 1024, "a whole number of bytes above 0", gt=0)
    RATELIMIT_STORAGE_URI: Annotated[str, AfterValidator(_storage_url)] = setting(
        "memory://", "redis://host:6379/0, or memory:// for counters in each process")
    RATELIMIT_ENABLED: bool = setting(True, "a boolean: 1, true, yes, on or 0, false, no, off")
    RATELIMIT_KEY_PREFIX: str = setting("vending", "a Redis key prefix")
    LOGIN_RATE_LIMIT: RateLimit = setting(
        "10 per minute", "a rate limit such as '10 per minute' or '10/minute;100/hour'")
    ACCOUNT_RATE_LIMIT: RateLimit = setting(
        "30 per minute", "a rate limit such as '30 per minute' or '30/minute;300/hour'")
    REGISTER_RATE_LIMIT: RateLimit = setting(
        "20 per minute", "a rate limit such as '20 per minute' or '20/minute;200/day'")
    UPLOAD_RATE_LIMIT: RateLimit = setting(
        "10 per minute", "a rate limit such as '10 per minute' or '10/minute;100/day'")
    CACHE_VERSIONS: Annotated[str | None, AfterValidator(_versions_url)] = setting(
        None, "redis://host:6379/1 or file:///dev/shm/vending.versions, or empty for no read cache")
    CACHE_KEY_PREFIX: str = setting("vending:version:", "a Redis key prefix")
    CACHE_MAX_AGE_SECONDS: int = setting(5, "a whole number of seconds, 0 or more", ge=0)
    PROXY_FIX_HOPS: int = setting(0, "the number of trusted proxies in front, 0 or more", ge=0)
    SESSION_COOKIE_SECURE: bool | None = setting(
        None, "a boolean: 1, true, yes, on or 0, false, no, off")
    DB_PING_AFTER_IDLE_SECONDS: int = setting(1, "a whole number of seconds, 0 or more", ge=0)
    DB_POOL_SIZE: int = setting(5, "a whole number of connections per worker process, 1 or more", ge=1)
    DB_MAX_OVERFLOW: int = setting(5, "a whole number of connections per worker process, 0 or more", ge=0)
    DB_POOL_TIMEOUT_SECONDS: int = setting(5, "a whole number of seconds above 0", gt=0)
    DB_MAX_CONNECTIONS: int | None = setting(
        None, "PostgreSQL's max_connections as a whole number, or empty to ask the server", gt=0)
    APP_SERVERS: int = setting(2, "how many app servers share the database, 1 or more", ge=1)
    GUNICORN_THREADS: int | None = setting(None, "a whole number of threads per worker, 1 or more", ge=1)
    PASSWORD_CHECKS_PER_WORKER: int | None = setting(
        None, "a whole number, 1 or more, or empty for half the worker's threads (at least 1)", ge=1)
    SENTRY_DSN: SecretStr | None = setting(None, "a Sentry DSN such as https://key@o1.ingest.sentry.io/2")
    SENTRY_ENVIRONMENT: str | None = setting(None, "a name such as production or staging")
    METRICS_ENABLED: bool = setting(True, "a boolean: 1, true, yes, on or 0, false, no, off")
    FLASK_DEBUG: bool = setting(False, "a boolean: 1, true, yes, on or 0, false, no, off")


SECRET_SETTINGS = {"SECRET_KEY", "SENTRY_DSN"}
URL_SETTINGS = {"DATABASE_URL", "RATELIMIT_STORAGE_URI", "CACHE_VERSIONS"}


def load_settings() -> Settings:
    """The settings from the environment, or ConfigError naming every bad variable on one line."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "?"
            raw = os.environ.get(name, "")
            shown = "(hidden)" if name in SECRET_SETTINGS else repr(mask_url(raw) if name in URL_SETTINGS else raw)
            expects = Settings.model_fields[name].description if name in Settings.model_fields else item["msg"]
            problems.append(f"{name}={shown}: expected {expects}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def mask_url(url: str | None) -> str | None:
    """A URL with its password (or a Sentry DSN's key) replaced by ***."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    hidden = f"{user}:***" if colon else "***"
    return urlunsplit(parts._replace(netloc=f"{hidden}@{host}"))


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, value as shown, "environment" or "default") for every setting, secrets masked."""
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            shown = mask_url(secret) if name == "SENTRY_DSN" else f"*** ({len(secret)} characters)"
        elif name in URL_SETTINGS:
            shown = mask_url(value) if value is not None else "(not set)"
        else:
            shown = "(not set)" if value is None else str(value)
        rows.append((name, shown, "environment" if name in settings.model_fields_set else "default"))
    return rows


class Config:
    """Base settings, read from the environment when the class is instantiated."""

    def __init__(self) -> None:
        settings = self.settings = load_settings()
        self.SECRET_KEY = settings.SECRET_KEY.get_secret_value()
        # None means "SQLite in the instance folder", resolved by create_app.
        self.SQLALCHEMY_DATABASE_URI = settings.DATABASE_URL
        self.AUTH_TOKEN_TTL_SECONDS = settings.AUTH_TOKEN_TTL_SECONDS
        # A session (browser or API token) ends after this long without a request (app.services.sessions).
        self.SESSION_IDLE_TIMEOUT_SECONDS = settings.SESSION_IDLE_TIMEOUT_SECONDS
        self.REFUND_WINDOW_SECONDS = settings.REFUND_WINDOW_SECONDS
        self.IDEMPOTENCY_TTL_SECONDS = settings.IDEMPOTENCY_TTL_SECONDS
        self.INITIAL_FLOAT = settings.INITIAL_FLOAT
        self.MAX_DEPOSIT_CENTS = settings.MAX_DEPOSIT_CENTS
        self.MAX_CONTENT_LENGTH = settings.MAX_CONTENT_LENGTH
        self.MAX_IMAGE_BYTES = settings.MAX_IMAGE_BYTES
        self.RATELIMIT_STORAGE_URI = settings.RATELIMIT_STORAGE_URI
        self.RATELIMIT_ENABLED = settings.RATELIMIT_ENABLED
        # Redis down -> each process counts in memory until Redis is back (never fail-open, never 500).
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_KEY_PREFIX = settings.RATELIMIT_KEY_PREFIX
        # Password checks per address, wrong passwords per account from addresses new to it (app/limits.py).
        self.LOGIN_RATE_LIMIT = settings.LOGIN_RATE_LIMIT
        self.ACCOUNT_RATE_LIMIT = settings.ACCOUNT_RATE_LIMIT
        self.REGISTER_RATE_LIMIT = settings.REGISTER_RATE_LIMIT
        self.UPLOAD_RATE_LIMIT = settings.UPLOAD_RATE_LIMIT
        # Per-worker copies of the public catalogue, invalidated through Redis or a file (app/data/cache.py).
        # redis://host:6379/1 (app servers on several hosts) or file:///dev/shm/vending.versions (one host).
        self.CACHE_VERSIONS = settings.CACHE_VERSIONS
        self.CACHE_KEY_PREFIX = settings.CACHE_KEY_PREFIX
        self.CACHE_MAX_AGE_SECONDS = settings.CACHE_MAX_AGE_SECONDS
        self.PROXY_FIX_HOPS = settings.PROXY_FIX_HOPS
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = bool(settings.SESSION_COOKIE_SECURE)
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = None
        self.BOOTSTRAP_SERVE_LOCAL = True
        # Pooled connections are pinged before use once they have rested this long (app.database).
        self.DB_PING_AFTER_IDLE_SECONDS = settings.DB_PING_AFTER_IDLE_SECONDS
        # Per worker process (shared by its threads): see README "Database connections".
        self.DB_POOL_SIZE = settings.DB_POOL_SIZE
        self.DB_MAX_OVERFLOW = settings.DB_MAX_OVERFLOW
        self.DB_POOL_TIMEOUT_SECONDS = settings.DB_POOL_TIMEOUT_SECONDS
        self.DB_MAX_CONNECTIONS = settings.DB_MAX_CONNECTIONS
        self.APP_SERVERS = settings.APP_SERVERS
        # argon2id checks, password-strength judgements and picture decodings at once per worker process
        # (app/services/expensive.py); the other threads stay free for everything else.
        threads = settings.GUNICORN_THREADS or 4  # gunicorn_cfg.py's default
        self.PASSWORD_CHECKS_PER_WORKER = settings.PASSWORD_CHECKS_PER_WORKER or max(1, threads // 2)
        self.SENTRY_DSN = settings.SENTRY_DSN.get_secret_value() if settings.SENTRY_DSN else None
        self.SENTRY_ENVIRONMENT = settings.SENTRY_ENVIRONMENT or settings.APP_CONFIG
        self.METRICS_ENABLED = settings.METRICS_ENABLED
        self.API_TITLE = "Vending Machine API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.API_SPEC_OPTIONS = {
            "info": {
                "description": (
                    "A coin-operated vending machine. Buyers insert 5, 10, 20, 50 and 100 "
                    "cent coins, buy products and receive change as coins from the "
                    "machine's tubes. Authenticate with POST /api/v1/auth/login and send "
                    "`Authorization: Bearer <token>`."
                )
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "opaque"}
                }
            },
        }
        self.DEBUG = settings.FLASK_DEBUG
        self.TESTING = False
        # Logged by create_app at start (ProductionConfig adds what an operator must know).
        self.STARTUP_WARNINGS: list[str] = []


class DevelopmentConfig(Config):
    """Local development: SQLite in the instance folder unless DATABASE_URL says otherwise. Password checks are
    limited to 30 a minute unless LOGIN_RATE_LIMIT says otherwise, so the Postman collection (7 a run) runs twice in
    a row against `make run`; production keeps 10. The account's budget stays three times that (app/limits.py)."""

    def __init__(self) -> None:
        super().__init__()
        if "LOGIN_RATE_LIMIT" not in self.settings.model_fields_set:
            self.LOGIN_RATE_LIMIT = "30 per minute"
        if "ACCOUNT_RATE_LIMIT" not in self.settings.model_fields_set:
            self.ACCOUNT_RATE_LIMIT = "90 per minute"


class TestConfig(Config):
    """Fast hashing, throw-away databases chosen by the test fixtures."""

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key"
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
        self.PASSWORD_HASH_FAST = True
        self.PASSWORD_CHECKS_PER_WORKER = 16  # the suite's threads share one process; the cap has its own tests
        self.RATELIMIT_ENABLED = False
        self.WTF_CSRF_ENABLED = False
        self.SENTRY_DSN = None


class ProductionConfig(Config):
    """Refuses to start with the development secret key, debug on, no DATABASE_URL, or rate-limit counters
    kept in each process without being asked to (checked in create_app)."""

    def __init__(self) -> None:
        super().__init__()
        secure = self.settings.SESSION_COOKIE_SECURE
        self.SESSION_COOKIE_SECURE = True if secure is None else secure
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PREFERRED_URL_SCHEME = "https" if self.SESSION_COOKIE_SECURE else "http"
        if self.RATELIMIT_ENABLED and self.RATELIMIT_STORAGE_URI.startswith("memory://") \
                and "RATELIMIT_STORAGE_URI" in self.settings.model_fields_set:
            self.STARTUP_WARNINGS.append(
                "RATELIMIT_STORAGE_URI=memory://: rate-limit counters are kept in each worker process, so every "
                "worker and every app server gives a client its own budget; use redis://host:6379/0 in production"
            )

    def validate(self) -> None:
        problems = []
        if self.SECRET_KEY == DEFAULT_SECRET_KEY or len(self.SECRET_KEY) < 32:
            problems.append("SECRET_KEY must be set to a random value of 32+ characters")
        if self.DEBUG:
            problems.append("FLASK_DEBUG must be off")
        if not self.SQLALCHEMY_DATABASE_URI:
            problems.append("DATABASE_URL must be set (e.g. postgresql+psycopg://user:password@host:5432/vending; "
                            "SQLite only when spelled out: sqlite:////srv/vending/vending.db)")
        if self.RATELIMIT_ENABLED and "RATELIMIT_STORAGE_URI" not in self.settings.model_fields_set:
            problems.append("RATELIMIT_STORAGE_URI must be set: redis://host:6379/0 so every worker and server "
                            "share the counters (memory:// only when written out, which keeps them per process)")
        if problems:
            raise ConfigError("ProductionConfig refuses to start: " + "; ".join(problems))


CONFIGS = {"development": DevelopmentConfig, "production": ProductionConfig}


def from_environment() -> Config:
    """The config APP_CONFIG names (development or production), read from the environment."""
    return CONFIGS[load_settings().APP_CONFIG]()
