"""The fault-injection suite: money requests retried with their Idempotency-Key through lost
connections, killed workers and a restarted database, on PostgreSQL.

Everything here drives the app through its HTTP API and checks the database with plain SQL and the
audit, so the same tests can be run against any version of the app.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

import config
from app import create_app
from app.extensions import db
from app.services import audit, users
from tests.dbutil import throwaway_database
from tests.faults.pgproxy import PgProxy

API = "/api/v1"
PASSWORD = "correct-horse-1"


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("the fault suite runs on PostgreSQL (TEST_DATABASE_URL)")
    return url


def create_schema(url: str) -> None:
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()


@pytest.fixture
def fault_database(pg_server_url):
    with throwaway_database(pg_server_url, "vending_faults") as url:
        create_schema(url)
        yield url


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's; no encryption, so the proxy can read frames."""
    parsed = make_url(url).set(host="127.0.0.1", port=port)
    parsed = parsed.update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def proxy(pg_server_url):
    upstream = make_url(pg_server_url)
    proxy = PgProxy(upstream.port or 5432, upstream.host or "127.0.0.1")
    yield proxy
    proxy.close()


@dataclass
class Account:
    id: int
    token: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers


class Shop:
    """The app in this process, its database behind the proxy; a few shortcuts to set a scene."""

    def __init__(self, app: Flask, direct_url: str) -> None:
        self.app = app
        self.client = app.test_client()
        self.direct_url = direct_url

    def call(self, method: str, path: str, account: Account | None = None, json=None, key: str | None = None):
        headers = account.headers(key) if account else {}
        return self.client.open(f"{API}{path}", method=method, json=json, headers=headers)

    def ok(self, method: str, path: str, account: Account | None = None, json=None, status: int = 200):
        response = self.call(method, path, account, json)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def account(self, role: str) -> Account:
        name = f"{role}-{uuid.uuid4().hex[:8]}"
        with self.app.app_context():
            users.register(name, PASSWORD, role, allow_admin=True)
            db.session.remove()
        login = self.ok("POST", "/auth/login", json={"username": name, "password": PASSWORD})
        return Account(login["user"]["id"], login["token"])

    def sql(self, statement: str, **params):
        """A scalar read from the database (through the proxy, which passes it on when not armed)."""
        with self.app.app_context():
            try:
                return db.session.execute(text(statement), params).scalar()
            finally:
                db.session.remove()

    def audit_is_clean(self) -> bool:
        with self.app.app_context():
            try:
                report = audit.run_audit()
            finally:
                db.session.remove()
        assert report.clean, report.render()
        return True


def until_answered(send, attempts: int = 40, pause: float = 0.25):
    """`send()` again while it answers 503 (a client honouring Retry-After, faster); the last answer."""
    for _ in range(attempts):
        response = send()
        if response.status_code != 503:
            return response
        assert response.headers.get("Retry-After"), "a 503 must say when to retry"
        time.sleep(pause)
    return response


@pytest.fixture
def shop(fault_database, proxy):
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=through(fault_database, proxy.port),
                     CACHE_VERSIONS=None)
    yield Shop(app, fault_database)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_with_local_port(port: int, among: list[int]) -> int | None:
    """Which of the processes `among` owns the loopback TCP socket bound to `port` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as listing:
                lines = listing.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in among:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            return pid
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as status:
                    stat = status.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


class Cluster:
    """A throw-away PostgreSQL cluster of the test's own (initdb, pg_ctl) on a free loopback port: the
    test may stop and restart it. Run as the unprivileged `postgres` user when the tests run as root;
    never the shared server."""

    def __init__(self, workdir: str) -> None:
        self.bin = self._bin_dir()
        self.port = free_port()
        self.data = os.path.join(workdir, "data")
        self.log = os.path.join(workdir, "postgres.log")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(workdir, "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _bin_dir() -> str:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if found:
            return os.path.dirname(found[-1])
        initdb = shutil.which("initdb")
        if initdb is None:
            pytest.skip("initdb is not installed")
        return os.path.dirname(initdb)

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_user, os.path.join(self.bin, tool), *args],  # noqa: S603
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{tool}: {result.stdout}{result.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {os.path.dirname(self.data)} -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def cluster(pg_server_url):
    workdir = tempfile.mkdtemp(prefix="vending-cluster-")  # in /tmp itself: pytest's folders are root's only
    cluster = Cluster(workdir)
    try:
        create_schema(cluster.url)
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(workdir, ignore_errors=True)
