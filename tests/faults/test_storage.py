"""A database that cannot take writes (read-only, or its disk full): money requests answer 503
"storage unavailable" with Retry-After and change nothing, and /readyz says so. On SQLite and PostgreSQL."""

import os
import shutil
import subprocess
import tempfile

import pytest
from sqlalchemy import event

import config
from app import create_app
from app.extensions import db
from app.services import sessions, users
from tests.factories import snapshot


@pytest.fixture
def read_only(app, is_postgres):
    """From now on every new connection of the app is read-only; the pool is emptied so none is left."""
    statement = "SET default_transaction_read_only = on" if is_postgres else "PRAGMA query_only = ON"

    def on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if is_postgres:
            dbapi_connection.commit()

    def turn_on():
        db.session.remove()
        event.listen(db.engine, "connect", on_connect)
        db.engine.dispose()

    yield turn_on
    if event.contains(db.engine, "connect", on_connect):
        event.remove(db.engine, "connect", on_connect)
    db.session.remove()
    db.engine.dispose()


def test_a_read_only_database_answers_503_storage_unavailable_and_changes_nothing(app, client, buyer, read_only):
    assert client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers).status_code == 200
    before = snapshot()
    read_only()

    deposit = client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers)
    keyed = client.post("/api/v1/reset", headers={**buyer.headers, "Idempotency-Key": "k-1"})
    ready = client.get("/readyz")

    for refused in (deposit, keyed):
        assert refused.status_code == 503 and refused.json["message"].startswith("Storage unavailable")
        assert refused.headers["Retry-After"] == "30"
    assert (ready.status_code, ready.json["database"]) == (503, "storage unavailable")
    assert snapshot() == before


@pytest.fixture
def small_disk():
    """A 2 MiB tmpfs of the test's own (needs root to mount), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    where = tempfile.mkdtemp(prefix="vending-small-disk-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", where],  # noqa: S603, S607
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        os.rmdir(where)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "--lazy", where], check=False)  # noqa: S603, S607
    os.rmdir(where)


def fill(folder: str) -> str:
    """Take every free byte of the file system `folder` is on."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as filler:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError:
                continue
    return path


def test_a_full_disk_answers_503_storage_unavailable_and_changes_nothing(small_disk):
    """SQLite on a file system that fills up (PostgreSQL's own answer to a full disk is a crash and
    recovery, covered by the restart test)."""
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=f"sqlite:///{small_disk}/vending.db",
                     CACHE_VERSIONS=None)
    try:
        full_disk_story(app, small_disk)
    finally:
        with app.app_context():
            db.engine.dispose()


def full_disk_story(app, folder: str) -> None:
    client = app.test_client()
    with app.app_context():
        db.create_all()
        buyer = users.register("buyer", "correct-horse-1", "buyer")
        token = sessions.open_session(buyer.id, kind="api", ttl_seconds=3600, idle_seconds=3600,
                                      user_agent=None, client_address=None).token
        db.session.remove()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/deposit", json={"coin": 50}, headers=headers).status_code == 200
    with app.app_context():
        before = snapshot()
    filler = fill(folder)
    try:
        refused = [client.post("/api/v1/deposit", json={"coin": 20}, headers=headers) for _ in range(20)]
        ready = client.get("/readyz")
    finally:
        os.unlink(filler)

    assert {r.status_code for r in refused} == {503}, [r.get_data(as_text=True)[:200] for r in refused]
    assert all(r.json["message"].startswith("Storage unavailable") for r in refused)
    assert (ready.status_code, ready.json["database"]) == (503, "storage unavailable")
    with app.app_context():
        assert snapshot() == before
    assert client.post("/api/v1/deposit", json={"coin": 20}, headers=headers).json["deposit"] == 70
