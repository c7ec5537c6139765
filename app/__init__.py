"""Application factory: the table of contents of the app."""

import logging
import os

from flask import Flask
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.middleware.proxy_fix import ProxyFix

import config as config_module
from app.data.cache import init_read_cache
from app.data.engine import configure_engine, engine_options
from app.errors import ErrorSchema, init_error_reporting, register_errorhandlers
from app.extensions import api as openapi  # not `api`: the app.api package would take that name
from app.extensions import babel, bootstrap, csrf, db, login_manager, migrate
from app.home.auth import BrowserSessionInterface
from app.home.locale import select_locale, select_time_zone
from app.limits import init_limiter
from app.logs import RequestIds
from app.metrics import init_metrics
from app.security import register_no_store, register_security_headers, set_docs_csp
from app.services import expensive, images, passwords
from app.services.maintenance import Purger

log = logging.getLogger(__name__)


def create_app(config: object | None = None, **overrides) -> Flask:
    """Build an app from a config object (default: DevelopmentConfig read from the environment)."""
    app = Flask(__name__, instance_relative_config=True)
    config = config if config is not None else config_module.DevelopmentConfig()
    if hasattr(config, "validate"):
        config.validate()
    app.config.from_object(config)
    app.config.update(overrides)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{os.path.join(app.instance_path, 'vending.db')}"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(
            app.config["SQLALCHEMY_DATABASE_URI"],
            pool_size=app.config["DB_POOL_SIZE"],
            max_overflow=app.config["DB_MAX_OVERFLOW"],
            pool_timeout=app.config["DB_POOL_TIMEOUT_SECONDS"],
        ),
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    passwords.configure(fast=app.config.get("PASSWORD_HASH_FAST", False))
    expensive.configure(at_once=app.config.get("PASSWORD_CHECKS_PER_WORKER", 1))
    images.configure()
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    for warning in app.config.get("STARTUP_WARNINGS", ()):
        log.warning(warning)
    app.wsgi_app = RequestIds(app.wsgi_app)
    if app.config.get("PROXY_FIX_HOPS"):  # outermost: every layer inside sees the request as the proxy saw it
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine, ping_after_idle=app.config["DB_PING_AFTER_IDLE_SECONDS"])
        init_metrics(app, db.engine)
    init_error_reporting(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    login_manager.init_app(app)
    openapi.ERROR_SCHEMA = ErrorSchema  # the app's error shape in flask-smorest's 422 and default responses
    openapi.init_app(app)
    bootstrap.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_time_zone)
    init_limiter(app)
    init_read_cache(app)
    app.extensions["purger"] = Purger()
    app.session_interface = BrowserSessionInterface()
    register_security_headers(app)
    register_no_store(app)


def register_blueprints(app: Flask) -> None:
    from app.api.base import BoundedIntConverter
    from app.api.v1 import BLUEPRINTS

    app.url_map.converters["int"] = BoundedIntConverter
    for blueprint in BLUEPRINTS:
        openapi.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # the API authenticates with bearer tokens only, never cookies
    docs = get_swaggerui_blueprint(
        "/api/docs",
        "/api/openapi.json",
        config={"app_name": "Vending Machine API", "persistAuthorization": True},
    )
    docs.after_request(set_docs_csp)
    app.register_blueprint(docs)

    from app.health import bp as health

    app.register_blueprint(health)

    from app.home import bp as home

    app.register_blueprint(home)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)
