"""The coin tubes, read and set by operators."""

import pytest

from app.extensions import db
from app.models import CoinTube, LedgerEntry
from tests.api.conftest import API, assert_error


def tubes() -> dict[int, int]:
    db.session.rollback()
    return {t.coin: t.count for t in db.session.query(CoinTube)}


def test_a_fresh_machine_holds_the_float(client, admin):
    response = client.get(f"{API}/machine/coins", headers=admin.headers)

    assert response.status_code == 200
    assert response.json == {"5": 20, "10": 20, "20": 20, "50": 20, "100": 20}
    assert tubes() == dict.fromkeys((5, 10, 20, 50, 100), 20)


@pytest.mark.parametrize("app_config", [{"INITIAL_FLOAT": 3}])
def test_the_float_comes_from_config(client, admin):
    assert client.get(f"{API}/machine/coins", headers=admin.headers).json == dict.fromkeys(
        ("5", "10", "20", "50", "100"), 3)


def test_admin_sets_the_tubes_and_the_ledger_records_it(client, admin):
    new = {"5": 0, "10": 7, "20": 20, "50": 1, "100": 1_000_000}

    response = client.put(f"{API}/machine/coins", json=new, headers=admin.headers)

    assert response.status_code == 200 and response.json == new
    assert tubes() == {5: 0, 10: 7, 20: 20, 50: 1, 100: 1_000_000}
    assert client.get(f"{API}/machine/coins", headers=admin.headers).json == new
    assert db.session.query(LedgerEntry).filter_by(kind="tubes_set").count() == 1


@pytest.mark.parametrize("change", [{"5": -1}, {"5": 1_000_001}, {"5": True}, {"5": "3"}, {"5": 1.0},
                                    {"5": None}, {"25": 1}, {"total": 5}])
def test_put_rejects_invalid_counts(client, admin, db_snapshot, change):
    client.get(f"{API}/machine/coins", headers=admin.headers)
    before = db_snapshot()
    body = {"5": 1, "10": 1, "20": 1, "50": 1, "100": 1, **change}
    assert_error(client.put(f"{API}/machine/coins", json=body, headers=admin.headers), 422)
    assert db_snapshot() == before


def test_put_needs_every_coin(client, admin, db_snapshot):
    before = db_snapshot()
    body = assert_error(client.put(f"{API}/machine/coins", json={"5": 1, "10": 1, "20": 1, "50": 1},
                                   headers=admin.headers), 422)
    assert "100" in body["errors"]["json"]
    assert db_snapshot() == before
