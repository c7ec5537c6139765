"""Configuration classes. Every value can be set from the environment."""

import os

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Base settings, read from the environment when the class is instantiated."""

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
        # None means "SQLite in the instance folder", resolved by create_app.
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or None
        self.AUTH_TOKEN_TTL_SECONDS = env_int("AUTH_TOKEN_TTL_SECONDS", 12 * 3600)
        self.REFUND_WINDOW_SECONDS = env_int("REFUND_WINDOW_SECONDS", 900)
        self.IDEMPOTENCY_TTL_SECONDS = env_int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
        self.INITIAL_FLOAT = env_int("INITIAL_FLOAT", 20)
        self.MAX_DEPOSIT_CENTS = env_int("MAX_DEPOSIT_CENTS", 100_000)
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 64 * 1024)
        self.MAX_IMAGE_BYTES = env_int("MAX_IMAGE_BYTES", 1024 * 1024)
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        # Redis down -> each process counts in memory until Redis is back (never fail-open, never 500).
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "vending")
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
        self.REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT", "20 per minute")
        # Per-worker copies of the public catalogue, invalidated through Redis or a file (app/data/cache.py).
        # redis://host:6379/1 (app servers on several hosts) or file:///dev/shm/vending.versions (one host).
        self.CACHE_VERSIONS = os.environ.get("CACHE_VERSIONS") or None
        self.CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "vending:version:")
        self.CACHE_MAX_AGE_SECONDS = env_int("CACHE_MAX_AGE_SECONDS", 5)
        self.PROXY_FIX_HOPS = env_int("PROXY_FIX_HOPS", 0)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = None
        self.BOOTSTRAP_SERVE_LOCAL = True
        # Pooled connections are pinged before use once they have rested this long (app.database).
        self.DB_PING_AFTER_IDLE_SECONDS = env_int("DB_PING_AFTER_IDLE_SECONDS", 1)
        # Per worker process (shared by its threads): see README "Database connections".
        self.DB_POOL_SIZE = env_int("DB_POOL_SIZE", 5)
        self.DB_MAX_OVERFLOW = env_int("DB_MAX_OVERFLOW", 5)
        self.DB_POOL_TIMEOUT_SECONDS = env_int("DB_POOL_TIMEOUT_SECONDS", 5)
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
        self.DEBUG = env_bool("FLASK_DEBUG", False)
        self.TESTING = False


class DevelopmentConfig(Config):
    """Local development: SQLite in the instance folder unless DATABASE_URL says otherwise."""


class TestConfig(Config):
    """Fast hashing, throw-away databases chosen by the test fixtures."""

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key"
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
        self.PASSWORD_HASH_FAST = True
        self.RATELIMIT_ENABLED = False
        self.WTF_CSRF_ENABLED = False


class ProductionConfig(Config):
    """Refuses to start with the development secret key or debug on (checked in create_app)."""

    def __init__(self) -> None:
        super().__init__()
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PREFERRED_URL_SCHEME = "https" if self.SESSION_COOKIE_SECURE else "http"

    def validate(self) -> None:
        if self.SECRET_KEY == DEFAULT_SECRET_KEY or len(self.SECRET_KEY) < 32:
            raise RuntimeError("ProductionConfig needs SECRET_KEY set to a random value of 32+ characters")
        if self.DEBUG:
            raise RuntimeError("ProductionConfig refuses to run with FLASK_DEBUG on")
