"""The committed Alembic migrations build exactly the schema the models describe, on every database."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect, text

import config
from app import create_app
from app.extensions import db
from tests.dbutil import throwaway_database

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
    with throwaway_database(os.environ["TEST_DATABASE_URL"], "vending_migrate") as url:
        assert differences_after_upgrade(url) == []
