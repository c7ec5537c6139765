"""Application factory: the table of contents of the app."""

import os
import weakref
from contextlib import contextmanager
from inspect import iscoroutinefunction

from flask import Flask
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.middleware.proxy_fix import ProxyFix

import config as config_module
from app.database import configure_engine
from app.errors import register_errorhandlers
from app.extensions import api, bootstrap, csrf, db, login_manager, migrate
from app.home.auth import BrowserSessionInterface
from app.limits import init_limiter
from app.security import register_security_headers, set_docs_csp
from app.services.cache import init_read_cache


class VendingFlask(Flask):
    """Flask that asks once per function whether it is a coroutine function.

    Flask asks inspect on every call of a view, hook or decorator layer (about ten times per API
    request, measured); the answer never changes for a function, so it is kept, keyed weakly by the
    function itself (a method's function, since its bound method is new with each view instance).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._coroutine_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        key = getattr(func, "__func__", func)
        try:
            is_coroutine = self._coroutine_functions.get(key)
        except TypeError:  # not weakly referenceable (a partial of a builtin, say): ask every time
            return super().ensure_sync(func)
        if is_coroutine is None:
            is_coroutine = self._coroutine_functions[key] = iscoroutinefunction(func)
        return self.async_to_sync(func) if is_coroutine else func


def create_app(config: object | None = None, **overrides) -> Flask:
    """Build an app from a config object (default: DevelopmentConfig read from the environment)."""
    app = VendingFlask(__name__, instance_relative_config=True)
    config = config if config is not None else config_module.DevelopmentConfig()
    if hasattr(config, "validate"):
        config.validate()
    app.config.from_object(config)
    app.config.update(overrides)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{os.path.join(app.instance_path, 'vending.db')}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}

    from app.services import passwords

    passwords.configure(fast=app.config.get("PASSWORD_HASH_FAST", False))
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    if app.config.get("PROXY_FIX_HOPS"):  # outermost: every layer inside sees the request as the proxy saw it
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine, ping_after_idle=app.config["DB_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(app, db)
    with web_pages_only(app):
        csrf.init_app(app)
        login_manager.init_app(app)
    api.init_app(app)
    bootstrap.init_app(app)
    init_limiter(app)
    init_read_cache(app)
    app.session_interface = BrowserSessionInterface()
    register_security_headers(app)


@contextmanager
def web_pages_only(app: Flask):
    """The request hooks an extension's init_app adds run for the web pages (the home blueprint) only.

    Flask-WTF's CSRF check and Flask-Login's remember-cookie refresh concern the forms and cookies of
    the pages; on every API request they only found that they had nothing to do, for about a
    twentieth of a deposit's CPU (measured). The pages are the app's only form-posting routes (tested).
    """
    from app.home import bp as web_pages

    before = list(app.before_request_funcs.get(None, []))
    after = list(app.after_request_funcs.get(None, []))
    yield
    for hooks, kept in ((app.before_request_funcs, before), (app.after_request_funcs, after)):
        added = [hook for hook in hooks.get(None, []) if hook not in kept]
        hooks[None] = kept
        hooks.setdefault(web_pages.name, [])[:0] = added


def register_blueprints(app: Flask) -> None:
    from app.api.v1 import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
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
