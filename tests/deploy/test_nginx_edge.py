"""nginx/vending.conf in a real nginx, in front of fake app servers that record what reaches them and can
misbehave on cue (reset a connection after reading a request, hold a request): request ids, the JSON log,
slow clients kept away from the app, the connection limit, /metrics, the retry of keyed money requests and
how soon idle upstream connections are let go."""

import json
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import NGINX, ROOT, free_port, http, nginx_argv, render_nginx_conf, wait_until

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")

HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclass
class Seen:
    method: str
    target: str
    headers: dict
    body: bytes
    connection: int
    nth_on_connection: int


@dataclass
class FakeApp:
    """A loopback HTTP/1.1 server answering JSON with keep-alive; `behave(seen)` returns "answer", "reset"
    (RST right after reading the request, as a dying server does) or "hold" (answer once `release` is set)."""

    name: str
    behave: object = None
    port: int = 0
    seen: list = field(default_factory=list)
    connections: int = 0
    idle_closes: list = field(default_factory=list)  # seconds from the last answer to the peer closing
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.open = False
        self.release.set()
        self.listener.close()

    def _accept(self):
        while self.open:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int):
        reader = conn.makefile("rb")
        answered_at, nth = None, 0
        try:
            while True:
                line = reader.readline()
                if not line:
                    if answered_at is not None:
                        self.idle_closes.append(time.monotonic() - answered_at)
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers = {}
                while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = reader.read(int(headers.get("content-length", 0)))
                nth += 1
                seen = Seen(method, target, headers, body, number, nth)
                with self.lock:
                    self.seen.append(seen)
                action = self.behave(seen) if self.behave else "answer"
                if action == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                if action == "hold":
                    self.release.wait(30)
                payload = json.dumps({"server": self.name, "path": target}).encode()
                # gunicorn names itself in every reply, and has no setting to stop it
                conn.sendall(b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                answered_at = time.monotonic()
        except (OSError, ValueError):
            return
        finally:
            reader.close()
            conn.close()


@pytest.fixture
def fake_apps():
    made = []

    def make(name, behave=None):
        app = FakeApp(name, behave)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@dataclass
class Edge:
    url: str
    port: int
    log: Path

    def log_lines(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def log_line(self, predicate) -> dict:
        def matching() -> list[dict]:
            return [entry for entry in self.log_lines() if predicate(entry)]

        wait_until(matching, 5, "the access log line")
        return matching()[0]


@pytest.fixture
def edge(processes, tmp_path):
    """Start nginx with the site rendered for the given fake apps; `edits` swap one directive each (for speed)."""

    def start(apps, edits=()):
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        port = free_port()
        conf = render_nginx_conf(prefix, port, [app.port for app in apps])
        site = prefix / "vending.conf"
        text = site.read_text()
        for pattern, replacement in edits:
            text, count = re.subn(pattern, replacement, text)
            assert count == 1, f"{pattern!r} is not in nginx/vending.conf exactly once"
        site.write_text(text)
        check = subprocess.run(nginx_argv(prefix, conf, "-t"), capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        proc = processes.start("nginx", nginx_argv(prefix, conf, "-g", f"daemon off; pid {prefix}/nginx.pid;"))
        wait_until(lambda: proc.poll() is None and _accepts(port), 20, "nginx")
        return Edge(f"http://127.0.0.1:{port}", port, prefix / "access.log")

    return start


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_request_id_goes_upstream_and_into_the_json_log(fake_apps, edge):
    app = fake_apps("a")
    site = edge([app])
    cases = {"none": None, "client": "client-chosen.id:42", "malformed": "bad id <script>", "short": "abc"}
    for case, given in cases.items():
        headers = {"X-Request-ID": given} if given else {}
        status, _, body = http("GET", f"{site.url}/api/v1/products?case={case}", headers=headers)
        assert (status, body["server"]) == (200, "a")
    passed = {seen.target.split("case=")[1]: seen.headers["x-request-id"] for seen in app.seen}
    assert passed["client"] == "client-chosen.id:42"
    for case in ("none", "malformed", "short"):
        assert HEX32.fullmatch(passed[case]), (case, passed[case])
    assert len(set(passed.values())) == 4

    line = site.log_line(lambda entry: entry["uri"] == "/api/v1/products?case=client")
    assert line["request_id"] == "client-chosen.id:42"
    assert (line["method"], line["status"], line["upstream_status"]) == ("GET", 200, "200")
    assert line["upstream_addr"] == f"127.0.0.1:{app.port}"
    assert isinstance(line["duration"], float) and float(line["upstream_time"]) >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", line["time"])
    assert line["remote_addr"] == "127.0.0.1"
    none = site.log_line(lambda entry: entry["uri"] == "/api/v1/products?case=none")
    assert none["request_id"] == passed["none"]


def test_a_keyed_money_request_cut_by_a_dying_server_is_answered_by_the_next(fake_apps, edge):
    """The rolling-restart race: nginx reuses an idle connection the server is just closing, sends the POST,
    and gets a reset. With an Idempotency-Key nginx hands it to the next server; the client sees the answer."""
    dying = fake_apps("dying", lambda seen: "reset" if seen.nth_on_connection > 1 else "answer")
    healthy = fake_apps("healthy")
    site = edge([dying, healthy])
    assert http("GET", site.url + "/api/v1/products")[2]["server"] == "dying"  # round robin starts at the first
    assert http("GET", site.url + "/api/v1/products")[2]["server"] == "healthy"
    key = {"Idempotency-Key": "k-123", "Authorization": "Bearer t", "X-Request-ID": "rolling-restart-1"}
    status, head, body = http("POST", site.url + "/api/v1/deposit", {"coin": 50}, key)
    assert (status, body["server"]) == (200, "healthy")

    tried = [seen for app in (dying, healthy) for seen in app.seen if seen.method == "POST"]
    assert [(seen.connection, seen.nth_on_connection) for seen in dying.seen if seen.method == "POST"] == [(1, 2)]
    assert len(tried) == 2
    assert {seen.body for seen in tried} == {b'{"coin": 50}'}
    assert {seen.headers["idempotency-key"] for seen in tried} == {"k-123"}
    assert {seen.headers["x-request-id"] for seen in tried} == {"rolling-restart-1"}
    line = site.log_line(lambda entry: entry["method"] == "POST")
    assert line["upstream_addr"] == f"127.0.0.1:{dying.port}, 127.0.0.1:{healthy.port}"
    assert line["status"] == 200


def test_a_money_request_without_a_key_is_not_replayed(fake_apps, edge):
    dying = fake_apps("dying", lambda seen: "reset" if seen.nth_on_connection > 1 else "answer")
    healthy = fake_apps("healthy")
    site = edge([dying, healthy])
    http("GET", site.url + "/api/v1/products")
    http("GET", site.url + "/api/v1/products")
    status, head, body = http("POST", site.url + "/api/v1/deposit", {"coin": 50}, {"Authorization": "Bearer t"})
    # It may have been applied before the reset: only the client, with a key, can safely ask again.
    assert status == 503 and body["code"] == 503 and head["Retry-After"] == "5"
    assert [seen.method for seen in healthy.seen] == ["GET"]
    assert [seen.method for seen in dying.seen] == ["GET", "POST"]


def test_other_posts_are_not_replayed_even_with_a_key(fake_apps, edge):
    dying = fake_apps("dying", lambda seen: "reset" if seen.nth_on_connection > 1 else "answer")
    healthy = fake_apps("healthy")
    site = edge([dying, healthy])
    http("GET", site.url + "/api/v1/products")
    http("GET", site.url + "/api/v1/products")
    status, _, body = http("POST", site.url + "/api/v1/users", {"username": "x"}, {"Idempotency-Key": "k-9"})
    assert status == 503  # the app honours keys on money requests only
    assert [seen.method for seen in healthy.seen] == ["GET"]


def test_idle_upstream_connections_are_let_go_before_gunicorn_closes_them(fake_apps, edge):
    import runpy

    gunicorn_keepalive = runpy.run_path(str(ROOT / "gunicorn_cfg.py"))["keepalive"]
    stopping_worker_linger = 2.0  # gunicorn's gthread worker: idle connections of a stopping worker
    app = fake_apps("a")
    site = edge([app])
    for _ in range(3):
        assert http("GET", site.url + "/api/v1/products")[0] == 200
    wait_until(lambda: app.idle_closes, 5, "nginx to close its idle upstream connection")
    idle = app.idle_closes[0]
    assert app.connections == 1, "three requests in a row should share one kept-alive connection"
    assert 0.5 <= idle < min(gunicorn_keepalive, stopping_worker_linger) - 0.5, idle


def test_a_client_slow_to_send_its_headers_is_cut_off_before_the_app_sees_it(fake_apps, edge):
    app = fake_apps("a")
    site = edge([app], edits=[(r"client_header_timeout 10s;", "client_header_timeout 1s;")])
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(b"GET /api/v1/products HTTP/1.1\r\nHost: vending\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # nginx hangs up without a word
        waited = time.monotonic() - started
    assert 0.8 <= waited < 5, waited
    assert app.connections == 0
    assert site.log_line(lambda entry: entry["status"] == 408)["upstream_addr"] == ""


def test_a_slow_body_is_read_whole_before_the_app_sees_it(fake_apps, edge):
    app = fake_apps("a")
    site = edge([app], edits=[(r"client_body_timeout 10s;", "client_body_timeout 2s;")])
    body = b'{"coin": 50, "padding": "xxxxxxxx"}'
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/deposit HTTP/1.1\r\nHost: vending\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\nIdempotency-Key: k-1\r\n\r\n".encode() + body[:10])
        time.sleep(1.2)
        assert app.connections == 0, "nginx passed on a request it had not read whole"
        sock.sendall(body[10:])
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    assert [(seen.method, seen.body) for seen in app.seen] == [("POST", body)]

    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/deposit HTTP/1.1\r\nHost: vending\r\nContent-Length: 100\r\n\r\n" + body[:10])
        started = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - started
    assert b" 408 " in answer.split(b"\r\n")[0] or answer == b"", answer
    assert 1.5 <= waited < 6, waited
    assert len(app.seen) == 1


def test_metrics_never_reach_the_app_through_nginx(fake_apps, edge):
    app = fake_apps("a")
    site = edge([app])
    for path in ("/metrics", "/metrics/", "/metrics?format=prometheus", "//metrics", "/%6detrics", "/metrics.txt"):
        status, head, body = http("GET", site.url + path)
        assert (status, body) == (404, {"code": 404, "status": "Not Found"}), path
        assert head["Content-Type"] == "application/json"
    assert app.connections == 0
    assert http("GET", site.url + "/api/v1/products")[0] == 200


def test_the_server_header_names_no_app_server_and_no_version(fake_apps, edge):
    """gunicorn sends `Server: gunicorn` and has no setting to stop it; nginx drops an upstream's Server header
    (proxy_hide_header's default list) and, with server_tokens off, names only itself, without its version, in
    its own header and error pages. Open-source nginx cannot leave the header out altogether."""
    app = fake_apps("a")
    site = edge([app])
    for path in ("/api/v1/products", "/", "/metrics"):
        status, head, _ = http("GET", site.url + path)
        assert status in (200, 404), path
        assert head.get_all("Server") == ["nginx"], (path, head.get_all("Server"))
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: vending\r\nContent-Length: nonsense\r\n\r\n")
        refused = sock.recv(65536)
    assert b" 400 " in refused.split(b"\r\n")[0] and b"\r\nServer: nginx\r\n" in refused, refused[:300]
    assert b"nginx/" not in refused and b"gunicorn" not in refused


def test_each_address_gets_64_requests_in_progress_then_429(fake_apps, edge):
    site_text = (ROOT / "nginx" / "vending.conf").read_text()
    limit = int(re.search(r"(?m)^\s*limit_conn vending_conn (\d+);", site_text).group(1))
    assert limit == 64
    app = fake_apps("a", lambda seen: "hold")
    site = edge([app])
    held = [socket.create_connection(("127.0.0.1", site.port), timeout=30) for _ in range(limit)]
    try:
        for n, sock in enumerate(held):
            sock.sendall(f"GET /api/v1/products?n={n} HTTP/1.1\r\nHost: vending\r\n\r\n".encode())
        wait_until(lambda: len(app.seen) == limit, 20, "every held request to reach the app")
        status, head, body = http("GET", site.url + "/api/v1/products?n=over")
        assert (status, body["code"], head["Retry-After"]) == (429, 429, "1")
    finally:
        app.release.set()
        for sock in held:
            sock.close()
    wait_until(lambda: http("GET", site.url + "/api/v1/products")[0] == 200, 10, "the limit to clear")
