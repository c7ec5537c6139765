"""The committed Alembic migrations build exactly the schema the models describe, on every database."""

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import config
from app import create_app
from app.extensions import db

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def differences_after_upgrade(url: str) -> list:
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS)
            with db.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                                 "compare_server_default": False})
                diff = compare_metadata(context, db.metadata)
                head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        finally:
            db.session.remove()
            db.engine.dispose()
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert head
    return diff


def test_migrations_match_the_models_on_sqlite(tmp_path):
    assert differences_after_upgrade(f"sqlite:///{tmp_path / 'migrated.db'}") == []


@pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                    reason="needs TEST_DATABASE_URL pointing at PostgreSQL")
def test_migrations_match_the_models_on_postgresql():
    base = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"vending_migrate_{uuid.uuid4().hex[:12]}"
    server = create_engine(base, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        assert differences_after_upgrade(url) == []
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
