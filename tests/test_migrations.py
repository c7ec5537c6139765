"""The committed Alembic migrations build exactly the schema the models describe, on every database."""

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect, text

import config
from app import create_app
from app.extensions import db
from app.models.columns import in_schema_of
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
                                                                 "compare_server_default": False,
                                                                 "include_object": in_schema_of(conn.dialect.name)})
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


SEED_AT_0002 = [
    "INSERT INTO users (id, username, username_key, password_hash, role, deposit, escrow_5, escrow_10, escrow_20, "
    "escrow_50, escrow_100, created_at) VALUES (1, 'sam', 'sam', 'x', 'seller', 0, 0, 0, 0, 0, 0, :now), "
    "(2, 'bea', 'bea', 'x', 'buyer', 0, 0, 0, 0, 0, 0, :now)",
    "INSERT INTO products (id, product_name, name_key, cost, amount_available, units_stocked, seller_id, "
    "refundable, on_sale, image_version, created_at, updated_at) "
    "VALUES (1, 'Cola', 'cola', 35, 8, 10, 1, true, true, 0, :now, :now)",
    "INSERT INTO coin_tubes (coin, count) VALUES (5, 8), (10, 7), (20, 8), (50, 11), (100, 11)",
    "INSERT INTO orders (id, buyer_id, seller_id, product_id, buyer_username, seller_username, product_name, "
    "unit_cost, amount, total_spent, paid_in, change, status, refunded_amount, refund_change, refundable, "
    "created_at, refunded_at) "
    "VALUES (1, 2, 1, 1, 'bea', 'sam', 'Cola', 35, 2, 70, 100, '[20, 10]', 'paid', 0, NULL, true, :now, NULL), "
    "(2, 2, 1, 1, 'bea', 'sam', 'Cola', 35, 1, 35, 50, '[10, 5]', 'refunded', 35, '[20, 10, 5]', true, :now, :now)",
    "INSERT INTO ledger_entries (created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) VALUES "
    "(:now, 'float_loaded', NULL, NULL, 10, 10, 10, 10, 10, 1850), "
    "(:now, 'coin_inserted', 2, NULL, 0, 0, 0, 0, 1, 100), (:now, 'escrow_to_tubes', 2, 1, 0, 0, 0, 0, 1, 100), "
    "(:now, 'change_paid', 2, 1, 0, 1, 1, 0, 0, 30), (:now, 'coin_inserted', 2, NULL, 0, 0, 0, 1, 0, 50), "
    "(:now, 'escrow_to_tubes', 2, 2, 0, 0, 0, 1, 0, 50), (:now, 'change_paid', 2, 2, 1, 1, 0, 0, 0, 15), "
    "(:now, 'refund_paid', 2, 2, 1, 1, 1, 0, 0, 35)",
]


def upgrade_a_database_with_data(url: str) -> None:
    from app.services.audit import run_audit

    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS, revision="0002")
            now = datetime.now(UTC)
            with db.engine.begin() as conn:
                for statement in SEED_AT_0002:
                    conn.execute(text(statement), {"now": now})
                if conn.dialect.name == "postgresql":  # the rows above were given their ids
                    for table in ("users", "products", "orders", "ledger_entries"):
                        conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))

            upgrade(directory=MIGRATIONS)

            report = run_audit()
            assert report.clean, report.render()
            assert report.checked["sales periods"] == 6  # the day and month of the product, the seller, everyone
            with db.engine.connect() as conn:
                rows = conn.execute(text("SELECT product_id, seller_id, span, orders, units, gross, refunded_orders, "
                                         "refunded_units, refunds FROM sales_periods")).all()
                assert sorted(tuple(row) for row in rows) == [
                    (0, 0, "day", 2, 3, 105, 1, 1, 35), (0, 0, "month", 2, 3, 105, 1, 1, 35),
                    (0, 1, "day", 2, 3, 105, 1, 1, 35), (0, 1, "month", 2, 3, 105, 1, 1, 35),
                    (1, 1, "day", 2, 3, 105, 1, 1, 35), (1, 1, "month", 2, 3, 105, 1, 1, 35)]
                assert conn.execute(text("SELECT id FROM orders ORDER BY id")).scalars().all() == [1, 2]
                if conn.dialect.name == "postgresql":
                    types = dict(conn.execute(text(
                        "SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'id' "
                        "AND table_name IN ('orders', 'ledger_entries', 'auth_sessions', 'idempotency_keys')")).all())
                    assert set(types.values()) == {"bigint"}, types
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_migrations_upgrade_a_database_with_money_in_it_on_sqlite(tmp_path):
    upgrade_a_database_with_data(f"sqlite:///{tmp_path / 'with-data.db'}")


@pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                    reason="needs TEST_DATABASE_URL pointing at PostgreSQL")
def test_the_migrations_upgrade_a_database_with_money_in_it_on_postgresql():
    with throwaway_database(os.environ["TEST_DATABASE_URL"], "vending_migrate") as url:
        upgrade_a_database_with_data(url)


def test_ids_past_every_remembered_one_after_0006_and_no_row_lost_on_sqlite(tmp_path):
    """The newest buyer (id 3) was deleted before the upgrade: only their order remembers the id. After 0006 the
    next account is 4, not 3; the rebuild of users kept the sessions and products that point at it."""
    url = f"sqlite:///{tmp_path / 'reuse.db'}"
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS, revision="0005")
            now = datetime.now(UTC)
            with db.engine.begin() as conn:
                for statement in SEED_AT_0002:
                    conn.execute(text(statement), {"now": now})
                conn.execute(text(
                    "INSERT INTO orders (id, buyer_id, seller_id, product_id, buyer_username, seller_username, "
                    "product_name, unit_cost, amount, total_spent, paid_in, change, status, refunded_amount, "
                    "refundable, created_at) VALUES (3, 3, 1, 1, 'gone', 'sam', 'Cola', 35, 1, 35, 35, '[]', 'paid', "
                    "0, true, :now)"), {"now": now})
                conn.execute(text("INSERT INTO auth_sessions (user_id, token_hash, kind, created_at, last_seen_at, "
                                  "expires_at) VALUES (1, 'digest', 'api', :now, :now, :now)"), {"now": now})

            upgrade(directory=MIGRATIONS)

            with db.engine.begin() as conn:
                schema = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'users'")).scalar()
                assert "AUTOINCREMENT" in schema
                assert conn.execute(text("SELECT count(*) FROM auth_sessions WHERE user_id = 1")).scalar() == 1
                assert conn.execute(text("SELECT seller_id FROM products WHERE id = 1")).scalar() == 1
                conn.execute(text("INSERT INTO users (username, username_key, password_hash, role, deposit, escrow_5, "
                                  "escrow_10, escrow_20, escrow_50, escrow_100, created_at) VALUES ('new', 'new', "
                                  "'x', 'buyer', 0, 0, 0, 0, 0, 0, :now)"), {"now": now})
                assert conn.execute(text("SELECT id FROM users WHERE username = 'new'")).scalar() == 4
                # a refund may bring the stock past the sellers' cap
                conn.execute(text("UPDATE products SET amount_available = 10001 WHERE id = 1"))
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        finally:
            db.session.remove()
            db.engine.dispose()


def upgrade_a_database_with_sessions(url: str) -> None:
    """0007: sessions open at the upgrade keep their expiry as their idle deadline and no network."""
    from app.services import sessions

    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS, revision="0005")
            now = datetime.now(UTC)
            expires = now.replace(microsecond=0) + timedelta(hours=3)
            with db.engine.begin() as conn:
                conn.execute(text(SEED_AT_0002[0]), {"now": now})
                conn.execute(text(
                    "INSERT INTO auth_sessions (user_id, token_hash, kind, user_agent, created_at, last_seen_at, "
                    "expires_at) VALUES (2, :digest, 'web', 'curl', :now, :now, :expires)"),
                    {"digest": sessions.hash_token("vm_before-the-upgrade"), "now": now, "expires": expires})

            upgrade(directory=MIGRATIONS)

            with db.engine.connect() as conn:
                row = conn.execute(text("SELECT client_network, idle_until FROM auth_sessions")).one()
            assert row.client_network is None
            idle_until = row.idle_until  # SQLite gives back the text it stored, without a zone
            idle_until = idle_until if isinstance(idle_until, datetime) else datetime.fromisoformat(idle_until)
            assert idle_until.replace(tzinfo=idle_until.tzinfo or UTC) == expires
            actor, _ = sessions.authenticate("vm_before-the-upgrade")
            assert actor.id == 2
        finally:
            db.session.remove()
            db.engine.dispose()


def test_sessions_open_at_the_upgrade_keep_working_on_sqlite(tmp_path):
    upgrade_a_database_with_sessions(f"sqlite:///{tmp_path / 'with-sessions.db'}")


@pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                    reason="needs TEST_DATABASE_URL pointing at PostgreSQL")
def test_sessions_open_at_the_upgrade_keep_working_on_postgresql():
    with throwaway_database(os.environ["TEST_DATABASE_URL"], "vending_migrate") as url:
        upgrade_a_database_with_sessions(url)


# Two sellers' three products, sold on three days in two months, one order refunded; at revision 0005.
ORDERS_AT_0005 = [
    # id, seller, product, amount, unit cost, status, bought at
    (1, 1, 1, 2, 35, "paid", "2026-10-31 23:59:00"),
    (2, 1, 1, 1, 35, "refunded", "2026-11-01 00:00:01"),
    (3, 1, 2, 3, 50, "paid", "2026-11-01 12:00:00"),
    (4, 3, 3, 1, 25, "paid", "2026-11-01 13:00:00"),
    (5, 3, 3, 4, 25, "paid", "2026-11-30 23:59:59"),
]


def upgrade_sales_to_periods(url: str) -> None:
    from app.services import sales
    from app.services.audit import run_audit

    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS, revision="0005")
            with db.engine.begin() as conn:
                for id_, seller, product, amount, cost, status, at in ORDERS_AT_0005:
                    total = amount * cost
                    conn.execute(text(
                        "INSERT INTO orders (id, buyer_id, seller_id, product_id, buyer_username, seller_username, "
                        "product_name, unit_cost, amount, total_spent, paid_in, change, status, refunded_amount, "
                        "refund_change, refundable, created_at, refunded_at) VALUES (:id, 2, :seller, :product, "
                        "'bea', 'sam', 'Snack', :cost, :amount, :total, :total, '[]', :status, :refunded, "
                        ":refund_change, true, :at, NULL)"),
                        {"id": id_, "seller": seller, "product": product, "cost": cost, "amount": amount,
                         "total": total, "status": status, "refunded": total if status == "refunded" else 0,
                         "refund_change": f"[{total}]" if status == "refunded" else None,
                         "at": datetime.fromisoformat(at).replace(tzinfo=UTC)})

            upgrade(directory=MIGRATIONS)

            with db.engine.connect() as conn:
                assert "sales_days" not in inspect(conn).get_table_names()
            figures = {
                (seller, product, since): sales.totals(seller_id=seller, product_id=product, since=since,
                                                       until=until)
                for seller, product in ((None, None), (1, None), (3, None), (1, 1), (None, 3))
                for since, until in ((None, None), (date(2026, 10, 31), date(2026, 10, 31)),
                                     (date(2026, 11, 1), date(2026, 11, 30)))
            }
            assert figures[None, None, None] == sales.Totals(5, 11, 380, 35, 1)
            assert figures[None, None, date(2026, 10, 31)] == sales.Totals(1, 2, 70, 0, 0)
            assert figures[None, None, date(2026, 11, 1)] == sales.Totals(4, 9, 310, 35, 1)
            assert figures[1, None, None] == sales.Totals(3, 6, 255, 35, 1)
            assert figures[1, None, date(2026, 11, 1)] == sales.Totals(2, 4, 185, 35, 1)
            assert figures[3, None, None] == figures[None, 3, None] == sales.Totals(2, 5, 125, 0, 0)
            assert figures[3, None, date(2026, 10, 31)] == sales.NO_SALES
            assert figures[1, 1, None] == sales.Totals(2, 3, 105, 35, 1)
            assert figures[1, 1, date(2026, 11, 1)] == sales.Totals(1, 1, 35, 35, 1)
            report = run_audit()  # these orders have no ledger rows: only the sales checks can pass
            assert [breach for breach in report.breaches if "sales" in breach or "refund" in breach] == []
            # days and months: of the products, 5 + 4; of the sellers, 4 + 3; of everyone, 3 + 2
            assert report.checked["sales periods"] == 21
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_sales_aggregate_moves_to_periods_with_every_figure_on_sqlite(tmp_path):
    upgrade_sales_to_periods(f"sqlite:///{tmp_path / 'sales.db'}")


@pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                    reason="needs TEST_DATABASE_URL pointing at PostgreSQL")
def test_the_sales_aggregate_moves_to_periods_with_every_figure_on_postgresql():
    with throwaway_database(os.environ["TEST_DATABASE_URL"], "vending_migrate") as url:
        upgrade_sales_to_periods(url)
