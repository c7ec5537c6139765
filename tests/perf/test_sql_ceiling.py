"""The comparison ceiling (bench/sql_client.py) sends exactly the pgbench script's SQL, and that SQL is a
real buy cycle: after it runs, the audit finds every coin and every item accounted for."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Order, User
from app.services.audit import run_audit
from tests.factories import make_product

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_client():
    spec = importlib.util.spec_from_file_location("sql_client", BENCH / "sql_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_client_sends_the_pgbench_scripts_statements():
    commands = load_client().load_script()
    script = [line.strip() for line in (BENCH / "buy_cycle.sql").read_text().splitlines()]
    sql_lines = [line for line in script if line and not line.startswith(("--", "\\"))]
    assert len(commands) == len(sql_lines) == 17
    queries = [query for query, _ in commands]
    assert queries.count("BEGIN") == queries.count("COMMIT") == 2 and "ROLLBACK" not in queries
    assert [prefix for _, prefix in commands if prefix] == ["b_", "p_", "o_"]
    for (query, _), line in zip(commands, sql_lines, strict=True):
        assert ":" not in query.replace("%(", "")  # every pgbench variable became a psycopg parameter
        assert query.split()[0] == line.split()[0].rstrip(";")
    assert "%(p_seller_id)s" in commands[12][0] and "%(o_id)s" in commands[13][0]
    assert commands[14][0].startswith("UPDATE coin_tubes") and commands[15][0].startswith("INSERT INTO sales_periods")
    assert commands[15][0].count("%(p_seller_id)s") == 4


def test_a_run_against_postgres_sells_and_balances(app, buyer, seller, set_tubes, database_url, is_postgres):
    if not is_postgres:
        pytest.skip("the ceiling client talks to PostgreSQL")
    set_tubes({5: 100_000, 10: 100_000, 20: 0, 50: 100_000, 100: 0})
    product = make_product(seller, cost=35, amount_available=10_000)
    db.session.commit()
    out = subprocess.run(
        [sys.executable, str(BENCH / "sql_client.py"), database_url.replace("+psycopg", ""),
         "--buyer-base", str(buyer.id - 1000), "--pmin", str(product.id), "--pmax", str(product.id),
         "--clients", "1", "--processes", "1", "--seconds", "1"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    result = json.loads(out.stdout.removeprefix("BENCHJSON "))
    db.session.expire_all()
    orders = db.session.scalars(select(Order).where(Order.buyer_id == buyer.id)).all()
    assert result["errors"] == 0 and result["cycles"] >= 1
    assert len(orders) == result["cycles"] == result["deposits"]
    assert {tuple(order.change) for order in orders} == {(50, 10, 5)}
    assert db.session.get(User, buyer.id).deposit == 0
    report = run_audit()
    assert report.clean, report.render()
