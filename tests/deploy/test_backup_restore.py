"""make backup and make restore on PostgreSQL: a machine with money in it is dumped, restored into a fresh
database, and the copy passes `flask audit` and holds the same balances, escrow, tubes, orders and ledger."""

import os
import shutil
import stat
import subprocess

import pytest

from tests.deploy.conftest import FLASK, ROOT, server_env
from tests.factories import deposit_coins, make_product, snapshot

needs_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
    or not all(shutil.which(tool) for tool in ("make", "pg_dump", "pg_restore", "psql")),
    reason="needs PostgreSQL (TEST_DATABASE_URL), make, pg_dump, pg_restore and psql",
)
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(target: str, cwd=ROOT, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("BACKUP_FILE", "FORCE", "DATABASE_URL")}
    return subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), target], cwd=cwd, env={**env, **variables},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def machine_with_money(client, make_account, set_tubes):
    """Two buyers and a seller; a purchase with change, a refund, coins left in escrow, an idempotent retry."""
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    seller = make_account("seller")
    cola = make_product(seller, cost=35, amount_available=10, refundable=True)
    crisps = make_product(seller, cost=65, amount_available=5)
    ann, bob = make_account("buyer"), make_account("buyer")

    deposit_coins(client, ann, 100, 20)
    bought = client.post("/api/v1/buy", json={"productId": cola.id, "amount": 2}, headers=ann.headers)
    assert bought.status_code == 200, bought.json
    refunded = client.post(f"/api/v1/orders/{bought.json['orderId']}/refund", headers=ann.headers)
    assert refunded.status_code == 200, refunded.json
    deposit_coins(client, ann, 50, 20, 5)
    bought = client.post("/api/v1/buy", json={"productId": crisps.id, "amount": 1}, headers=ann.headers)
    assert bought.status_code == 200, bought.json

    keyed = {**bob.headers, "Idempotency-Key": "bob-first-coin"}
    for _ in range(2):
        assert client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed).status_code == 200
    deposit_coins(client, bob, 10, 5)
    state = snapshot()
    assert [user[3] for user in state["users"] if user[1] == bob.username] == [65]
    assert len(state["orders"]) == 2 and state["ledger"] > 0
    return state


@needs_postgres
def test_a_backup_restored_into_a_fresh_database_is_the_same_machine(machine_with_money, database_url, make_app,
                                                                     tmp_path):
    from tests.dbutil import throwaway_database

    original = machine_with_money
    dump = tmp_path / "vending.dump"
    backed_up = make("backup", DATABASE_URL=database_url, BACKUP_FILE=str(dump))
    assert backed_up.returncode == 0, backed_up.stderr
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600, "a dump holds password hashes: for its owner only"

    with throwaway_database(os.environ["TEST_DATABASE_URL"], "vending_restored") as restored_url:
        restored = make("restore", DATABASE_URL=restored_url, BACKUP_FILE=str(dump))
        assert restored.returncode == 0, restored.stderr

        audit = subprocess.run([str(FLASK), "audit"], cwd=ROOT, env=server_env(restored_url),
                               capture_output=True, text=True, timeout=120)
        assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]

        copy = make_app(SQLALCHEMY_DATABASE_URI=restored_url)
        with copy.app_context():
            state = snapshot()
            for part in ("users", "tubes", "orders", "ledger"):  # balances and escrow, tubes, orders, ledger rows
                assert state[part] == original[part], part
            assert state == original
            # The sequences came along too: the copy takes new rows without colliding with restored ones.
            created = copy.test_client().post(
                "/api/v1/users", json={"username": "after-restore", "password": "tangerine-lantern", "role": "buyer"}
            )
            assert created.status_code == 201, created.json
            assert created.json["id"] > max(user[0] for user in original["users"])

        again = make("restore", DATABASE_URL=restored_url, BACKUP_FILE=str(dump))
        assert again.returncode != 0 and "not empty" in again.stderr and "FORCE=1" in again.stderr
        forced = make("restore", DATABASE_URL=restored_url, BACKUP_FILE=str(dump), FORCE="1")
        assert forced.returncode == 0, forced.stderr
        with copy.app_context():
            assert snapshot() == original  # the row made after the first restore is gone


@needs_postgres
def test_backups_are_named_by_database_and_time_by_default(database_url, tmp_path):
    made = make("backup", cwd=tmp_path, DATABASE_URL=database_url)
    assert made.returncode == 0, made.stderr
    [dump] = (tmp_path / "backups").iterdir()
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    assert dump.name.startswith(name + "-") and dump.suffix == ".dump"
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700


@needs_make
@pytest.mark.parametrize(
    "variables, message",
    [
        ({"DATABASE_URL": "sqlite:///instance/vending.db"}, "PostgreSQL"),
        ({"DATABASE_URL": ""}, "PostgreSQL"),
    ],
)
def test_backup_refuses_what_is_not_postgres(variables, message, tmp_path):
    refused = make("backup", cwd=tmp_path, **variables)
    assert refused.returncode != 0 and message in refused.stderr
    assert not (tmp_path / "backups").exists()


@needs_make
def test_restore_needs_a_backup_file(tmp_path):
    refused = make("restore", cwd=tmp_path, DATABASE_URL="postgresql+psycopg://vending@127.0.0.1:1/vending",
                   BACKUP_FILE=str(tmp_path / "missing.dump"))
    assert refused.returncode != 0 and "BACKUP_FILE" in refused.stderr


@needs_make
def test_the_password_reaches_pg_dump_through_its_environment_not_its_arguments(tmp_path):
    """Arguments show in `ps` to every user of the host; the environment of a process does not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pg_dump"
    fake.write_text('#!/bin/sh\nprintf \'%s\\n\' "$@" > "$0.argv"; printf \'%s\' "$PGPASSWORD" > "$0.password"\n'
                    'for arg; do case "$arg" in --file=*) : > "${arg#--file=}";; esac; done\n')
    fake.chmod(0o755)
    url = "postgresql+psycopg://vending:s3cr%40t%27%20pw@db.internal:5433/vending_prod?sslmode=require"
    made = make("backup", cwd=tmp_path, DATABASE_URL=url, BACKUP_FILE=str(tmp_path / "b.dump"),
                PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert made.returncode == 0, made.stderr
    argv = (bin_dir / "pg_dump.argv").read_text().splitlines()
    assert argv == ["--format=custom", f"--file={tmp_path / 'b.dump'}",
                    "--dbname=postgresql://vending@db.internal:5433/vending_prod?sslmode=require"]
    assert (bin_dir / "pg_dump.password").read_text() == "s3cr@t' pw"
    assert "s3cr" not in made.stdout + made.stderr


def test_backups_stay_out_of_git_and_of_the_image():
    assert {"backups/", "*.dump"} <= set((ROOT / ".gitignore").read_text().split())
    assert {"backups", "*.dump"} <= set((ROOT / ".dockerignore").read_text().split())
