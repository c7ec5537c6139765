"""Helpers for the deployment tests: real gunicorn and nginx processes on loopback ports, always stopped."""


import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
GUNICORN = VENV_BIN / "gunicorn"
FLASK = VENV_BIN / "flask"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
TEST_SECRET = "deploy-test-secret-key-0123456789abcdef"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def redis_up() -> bool:
    return port_open(6379)


def free_port() -> int:
    """A loopback port nothing listens on right now (for servers a test starts and stops itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: object | None = None, headers: dict | None = None, timeout: float = 15):
    """(status, headers, parsed JSON or raw text); a failed or cut-off exchange comes back as status 0."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback URLs built by tests)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            try:
                status, head, raw = error.code, error.headers, error.read()
            except (HTTPException, OSError) as cut:
                return 0, {}, repr(cut)
    except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError, OSError) as error:
        return 0, {}, repr(error)
    text = raw.decode("utf-8", "replace")
    try:
        return status, head, json.loads(text) if text else None
    except ValueError:
        return status, head, text


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "TEST_DATABASE"))}
    env.update(
        APP_CONFIG="production",
        SECRET_KEY=TEST_SECRET,
        SESSION_COOKIE_SECURE="0",
        DATABASE_URL=database_url,
        FLASK_APP="run.py",
        FLASK_DEBUG="0",
        PYTHONUNBUFFERED="1",
    )
    # Production refuses per-process rate-limit counters unless asked for in writing; a test wanting Redis says so.
    env.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    env.update(extra)
    return env


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Processes:
    """Starts processes in their own process group and kills exactly those groups at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def start_gunicorn(processes: Processes, name: str, port: int, env: dict[str, str], workers: int = 2) -> None:
    assert not port_open(port), f"port {port} is already taken: a stale server would answer instead of ours"
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": "4"}
    proc = processes.start(name, [str(GUNICORN), "-c", "gunicorn_cfg.py", "run:app"], env)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn {name} exited:\n{processes.log(name)}")
        return http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200

    wait_until(ready, 60, f"gunicorn {name} on port {port}")


def migrate_database(env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(FLASK), "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]


def render_nginx_conf(prefix: Path, listen_port: int, upstream_ports: list[int]) -> Path:
    """nginx/vending.conf with loopback upstreams, listen address and static folder, inside a minimal main file.

    The upstream servers keep the site's own parameters (max_fails, fail_timeout, ...) except `resolve`: it
    needs nginx 1.27.3 (the compose image has it, Debian's 1.22 does not) and means nothing for an address.
    The access log goes to the prefix folder, in the site's own format.
    """
    site = (ROOT / "nginx" / "vending.conf").read_text()
    params = re.search(r"(?m)^    server app\d:8000((?: [^;\n]+)?);", site)
    kept = " ".join(word for word in (params.group(1).split() if params else []) if word != "resolve")
    servers = "".join(f"    server 127.0.0.1:{p} {kept};\n" for p in upstream_ports)
    site, n_up = re.subn(r"(?m)^    server app\d:8000[^\n]*\n", "", site)
    site = site.replace("upstream vending_app {\n", "upstream vending_app {\n" + servers, 1)
    site, n_listen = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{listen_port};", site)
    site, n_alias = re.subn(r"alias /srv/vending/static/;", f"alias {ROOT / 'app' / 'static'}/;", site)
    site = re.sub(r"(?m)^(\s*access_log) /var/log/nginx/access\.log", rf"\1 {prefix}/access.log", site)
    assert "/var/log/nginx" not in site, "nginx/vending.conf logs somewhere new: update render_nginx_conf"
    assert (n_up, n_listen) == (2, 1) and n_alias >= 1, "nginx/vending.conf changed shape: update render_nginx_conf"
    (prefix / "vending.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}worker_processes 1;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/vending.conf;
}}
"""
    conf = prefix / "nginx.conf"
    conf.write_text(main)
    return conf


def nginx_argv(prefix: Path, conf: Path, *extra: str) -> list[str]:
    return [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf), *extra]


def start_nginx(processes: Processes, prefix: Path, listen_port: int, upstream_ports: list[int]) -> None:
    assert not port_open(listen_port), f"port {listen_port} is already taken"
    conf = render_nginx_conf(prefix, listen_port, upstream_ports)
    check = subprocess.run(nginx_argv(prefix, conf, "-t"), capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = processes.start("nginx", nginx_argv(prefix, conf, "-g", f"daemon off; pid {prefix}/nginx.pid;"))

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited:\n{processes.log('nginx')}")
        return port_open(listen_port)

    wait_until(ready, 20, f"nginx on port {listen_port}")


@pytest.fixture
def make_app():
    """create_app for tests that need their own app; every engine is disposed afterwards (no stray connections)."""
    import config
    from app import create_app
    from app.extensions import db

    made = []

    def make(config_obj=None, **overrides):
        app = create_app(config_obj or config.TestConfig(), **overrides)
        made.append(app)
        return app

    try:
        yield make
    finally:
        for app in made:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
