"""The deployment files say what the README promises: checked by parsing them and by nginx -t."""

import json
import re
import runpy
import shutil
import subprocess

import pytest
import yaml

from tests.deploy.conftest import NGINX, ROOT, nginx_argv, render_nginx_conf


def load_gunicorn_cfg(monkeypatch, **env) -> dict:
    for name in list(__import__("os").environ):
        if name.startswith("GUNICORN_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn_cfg.py"))


def test_gunicorn_defaults_follow_the_core_count(monkeypatch):
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 2)
    cfg = load_gunicorn_cfg(monkeypatch)
    assert cfg["bind"] == ["127.0.0.1:8000"]
    assert cfg["workers"] == 5
    assert cfg["threads"] == 4 and cfg["worker_class"] == "gthread"
    assert cfg["graceful_timeout"] == 20 and cfg["preload_app"] is True
    assert cfg["control_socket_disable"] is True
    for field in ("%(h)s", "%({x-forwarded-for}i)s", "%(s)s", "%(M)s", '"%(r)s"'):
        assert field in cfg["access_log_format"]


def test_gunicorn_workers_are_capped_on_big_machines(monkeypatch):
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 64)
    assert load_gunicorn_cfg(monkeypatch)["workers"] == 9


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    cfg = load_gunicorn_cfg(
        monkeypatch,
        GUNICORN_BIND="127.0.0.1:5201",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        GUNICORN_PRELOAD="0",
        GUNICORN_GRACEFUL_TIMEOUT="7",
    )
    assert (cfg["bind"], cfg["workers"], cfg["threads"]) == (["127.0.0.1:5201"], 3, 8)
    assert cfg["preload_app"] is False and cfg["graceful_timeout"] == 7


def nginx_site() -> str:
    return (ROOT / "nginx" / "vending.conf").read_text()


def active_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_nginx_site_proxies_to_several_servers_and_limits_login():
    site = active_lines(nginx_site())
    upstream = re.search(r"upstream vending_app \{(.*?)\}", site, re.DOTALL).group(1)
    assert len(re.findall(r"^\s*server \S+", upstream, re.MULTILINE)) >= 2
    assert "client_max_body_size 2m;" in site
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    login = re.search(r"location = /api/v1/auth/login \{(.*?)\}", site, re.DOTALL).group(1)
    assert "limit_req zone=vending_login" in login
    assert re.search(r"location /static/ \{[^}]*alias /srv/vending/static/;", site)
    next_upstream = re.search(r"proxy_next_upstream ([^;]*);", site).group(1).split()
    assert next_upstream == ["error", "timeout", "http_502", "http_503"]
    # A POST is replayed on the next server only when the app can tell a replay: money requests with a key.
    assert site.count("non_idempotent") == 1
    keyed = location_block(site, "@money_with_key")
    assert "non_idempotent" in keyed
    money = location_block(site, "~ ^/api/v1/(deposit|buy|reset|orders/[0-9]+/refund)$")
    assert re.search(r"if \(\$http_idempotency_key\) \{\s*return 418;\s*\}", money)
    assert "error_page 418 = @money_with_key;" in money and "recursive_error_pages on;" in money
    # error_page in a location replaces the server's: the money location repeats every one of them.
    for line in re.findall(r"(?m)^    (error_page [^;]*;)", site):
        assert line in money, line


def location_block(site: str, name: str) -> str:
    start = site.index(f"location {name} {{")
    depth, end = 0, start
    for end in range(start, len(site)):
        depth += {"{": 1, "}": -1}.get(site[end], 0)
        if depth == 0 and site[end] == "}":
            break
    return site[start:end + 1]


def upstream_block(site: str) -> str:
    return re.search(r"upstream vending_app \{(.*?)\n\}", site, re.DOTALL).group(1)


def test_nginx_lets_go_of_idle_upstream_connections_before_gunicorn_does(monkeypatch):
    upstream = upstream_block(active_lines(nginx_site()))
    idle = re.search(r"(?m)^\s*keepalive_timeout (\d+)(ms|s);", upstream)
    assert idle, "without keepalive_timeout in the upstream block nginx keeps idle connections for 60 s"
    seconds = int(idle.group(1)) / (1000 if idle.group(2) == "ms" else 1)
    gunicorn_keepalive = load_gunicorn_cfg(monkeypatch)["keepalive"]
    assert seconds < gunicorn_keepalive
    assert seconds < 2, "a stopping gthread worker closes its idle connections after 2 s"
    assert re.search(r"(?m)^\s*keepalive \d+;", upstream)


def test_nginx_resolves_the_app_servers_again_while_running():
    site = active_lines(nginx_site())
    assert re.search(r"(?m)^resolver \S+ valid=\d+s", site), "the resolver must be in the http context"
    upstream = upstream_block(site)
    assert re.search(r"(?m)^\s*zone vending_app \d+k;", upstream), "`resolve` needs the group in shared memory"
    servers = re.findall(r"(?m)^\s*server (\S+) ([^;]*);", upstream)
    assert servers and all("resolve" in params.split() for _, params in servers)


def test_nginx_keeps_slow_clients_away_from_the_workers():
    site = active_lines(nginx_site())
    server = site[site.index("server {"):]
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        value = re.search(rf"(?m)^    {directive} (\d+)s;", server)
        assert value and 1 <= int(value.group(1)) <= 30, directive
    assert re.search(r"(?m)^    proxy_request_buffering on;", server)
    assert re.search(r"(?m)^    proxy_buffering on;", server)
    assert re.search(r"(?m)^limit_conn_zone \$binary_remote_addr zone=vending_conn:\d+m;", site)
    assert re.search(r"(?m)^    limit_conn vending_conn \d+;", server)
    assert "limit_conn_status 429;" in site


def test_nginx_passes_a_request_id_and_logs_json():
    site = active_lines(nginx_site())
    assert "proxy_set_header X-Request-ID $vending_request_id;" in site
    request_id_map = re.search(r"map \$http_x_request_id \$vending_request_id \{(.*?)\n\}", site, re.DOTALL).group(1)
    assert "default $request_id;" in request_id_map
    log_format = re.search(r"log_format vending_json escape=json\s+((?:'[^']*'\s*)+);", site).group(1)
    fields = json.loads("".join(re.findall(r"'([^']*)'", log_format)).replace("$status", "0")
                        .replace("$body_bytes_sent", "0").replace("$request_time", "0"))
    for name, variable in {"time": "$time_iso8601", "request_id": "$vending_request_id", "method": "$request_method",
                           "uri": "$request_uri", "upstream_addr": "$upstream_addr",
                           "upstream_time": "$upstream_response_time"}.items():
        assert fields[name] == variable, name
    assert {"status", "duration"} <= set(fields)
    assert re.search(r"(?m)^    access_log /var/log/nginx/access\.log vending_json;", site)


def test_nginx_never_passes_metrics_to_the_app():
    site = active_lines(nginx_site())
    metrics = location_block(site, "^~ /metrics")
    assert "return 404" in metrics and "proxy_pass" not in metrics


def test_nginx_site_has_a_commented_tls_block():
    commented = "\n".join(line.lstrip()[1:] for line in nginx_site().splitlines() if line.lstrip().startswith("#"))
    assert re.search(r"listen 443 ssl http2;", commented)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in commented


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_nginx_accepts_the_site_config(tmp_path):
    conf = render_nginx_conf(tmp_path, 8089, [5201, 5202])
    result = subprocess.run(nginx_argv(tmp_path, conf, "-t"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def dockerfile_stages() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return re.split(r"(?m)^FROM ", text)[1:]


def test_dockerfile_is_multi_stage_slim_and_unprivileged():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert all(stage.startswith("python:3.11-slim") for stage in stages)
    final = stages[-1]
    assert "build-essential" not in final and "gcc" not in final and "apt-get install" not in final
    assert "COPY --from=build /opt/venv /opt/venv" in final
    user = re.search(r"(?m)^USER (\S+)", final).group(1)
    assert user not in ("root", "0")
    assert re.search(r"(?ms)^HEALTHCHECK .*?/readyz", final)
    assert 'CMD ["gunicorn", "-c", "gunicorn_cfg.py", "run:app"]' in final


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "instance", "tests", "backups", "*.dump"):
        assert entry in ignored


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_two_app_servers_after_migrations():
    services = compose()["services"]
    apps = [name for name in services if re.fullmatch(r"app\d+", name)]
    assert len(apps) >= 2
    for name in apps:
        app = services[name]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["environment"]["RATELIMIT_STORAGE_URI"].startswith("redis://redis:")
        # two containers share no file: their read-cache versions must live in Redis
        assert app["environment"]["CACHE_VERSIONS"].startswith("redis://redis:")
        assert app["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert app["environment"]["PROXY_FIX_HOPS"] == "1"
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_keeps_postgres_data_in_a_volume_and_fronts_with_nginx():
    spec = compose()
    services = spec["services"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pgdata" in spec["volumes"]
    assert services["redis"]["image"].startswith("redis:")
    nginx_volumes = services["nginx"]["volumes"]
    assert "./nginx/vending.conf:/etc/nginx/conf.d/default.conf:ro" in nginx_volumes
    assert "./app/static:/srv/vending/static:ro" in nginx_volumes


def interpolations(text: str) -> list[tuple[str, str, str]]:
    """Every ${NAME...} in a compose file as (name, operator, argument): operator "", ":-", "-", ":?" or "?"."""
    return [(m.group(1), m.group(2) or "", m.group(3) or "")
            for m in re.finditer(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}", text)]


def compose_default(value: str) -> str:
    """A compose value with each ${NAME:-default} replaced by its default (what runs when .env says nothing)."""
    return re.sub(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}", r"\1", str(value))


def app_services() -> dict:
    services = compose()["services"]
    return {name: spec for name, spec in services.items() if re.fullmatch(r"app\d+", name)}


def test_compose_refuses_to_start_without_a_database_password():
    text = (ROOT / "docker-compose.yml").read_text()
    uses = [(op, arg) for name, op, arg in interpolations(text) if name == "POSTGRES_PASSWORD"]
    assert len(uses) >= 2, "the database and the app servers both need it"
    assert all(op == ":?" and arg.strip() for op, arg in uses), uses
    assert ":-vending" not in text
    services = compose()["services"]
    assert "${POSTGRES_PASSWORD:?" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    for spec in app_services().values():
        assert ":${POSTGRES_PASSWORD:?" in spec["environment"]["DATABASE_URL"]
    secrets_ = [(op, arg) for name, op, arg in interpolations(text) if name == "SECRET_KEY"]
    assert secrets_ and all(op == ":?" for op, _ in secrets_)


def duration_seconds(value: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, value
    return sum(float(n) * units[u] for n, u in parts)


def test_app_servers_get_longer_to_stop_than_gunicorn_takes_to_drain(monkeypatch):
    for name, spec in app_services().items():
        env = {key: compose_default(value) for key, value in spec["environment"].items()
               if key.startswith("GUNICORN_")}
        graceful = load_gunicorn_cfg(monkeypatch, **env)["graceful_timeout"]
        assert graceful >= 10, (name, graceful)
        # Past the graceful timeout gunicorn itself stops waiting; Docker's SIGKILL must come later still.
        assert duration_seconds(spec["stop_grace_period"]) >= graceful + 5, (name, spec["stop_grace_period"])


def test_app_servers_are_healthy_only_when_ready_and_nginx_waits_for_them():
    services = compose()["services"]
    for name, spec in app_services().items():
        check = " ".join(spec["healthcheck"]["test"])
        assert "http://127.0.0.1:8000/readyz" in check and "/healthz" not in check, name
        assert spec["healthcheck"]["start_period"] and spec["healthcheck"]["retries"] >= 2
        assert services["nginx"]["depends_on"][name]["condition"] == "service_healthy"
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]


def test_app_servers_take_their_pool_size_from_the_environment():
    for name, spec in app_services().items():
        env = spec["environment"]
        for variable in ("DB_POOL_SIZE", "DB_MAX_OVERFLOW"):
            assert env[variable] == f"${{{variable}:-5}}", (name, variable)


def test_compose_defaults_stay_under_postgres_connection_limit():
    """Worst case: every worker of every app server with its pool and overflow open, plus a one-off command."""
    max_connections, reserved_for_superusers = 100, 3
    per_server = []
    for spec in app_services().values():
        env = {key: int(compose_default(value)) for key, value in spec["environment"].items()
               if key in ("GUNICORN_WORKERS", "DB_POOL_SIZE", "DB_MAX_OVERFLOW")}
        per_server.append(env["GUNICORN_WORKERS"] * (env["DB_POOL_SIZE"] + env["DB_MAX_OVERFLOW"]))
    one_off = 5 + 5  # `docker compose run --rm migrate flask ...`: one process, default pool
    assert sum(per_server) + one_off < max_connections - reserved_for_superusers, per_server


def test_nginx_image_supports_what_the_site_uses():
    image = compose()["services"]["nginx"]["image"]
    match = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)(-[a-z0-9.-]+)?", image)
    assert match, f"{image}: pin the nginx image to an exact version"
    version = tuple(int(part) for part in match.groups()[:3])
    site = active_lines(nginx_site())
    if re.search(r"(?m)^\s*server \S+ [^;]*\bresolve\b", site):
        assert version >= (1, 27, 3), f"{image}: the upstream `resolve` parameter needs nginx 1.27.3"
    assert version[1] % 2 == 0, f"{image}: a stable (even) nginx release"


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not docker_compose_available(), reason="the docker compose plugin is not installed here")
def test_docker_compose_config_passes():
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SECRET_KEY": "x" * 40, "POSTGRES_PASSWORD": "p" * 24, "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    refused = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SECRET_KEY": "x" * 40, "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr


def test_makefile_has_serve_and_lint_with_bandit():
    makefile = (ROOT / "Makefile").read_text()
    serve = re.search(r"(?m)^serve:.*\n((?:\t.*\n)+)", makefile).group(1)
    assert "gunicorn -c gunicorn_cfg.py run:app" in serve and "APP_CONFIG=production" in serve
    lint = re.search(r"(?m)^lint:.*\n((?:\t.*\n)+)", makefile).group(1)
    assert re.search(r"bandit -q (-c pyproject.toml )?-r app -x tests", lint)
    assert re.search(r"(?m)^test:.*\blint\b", makefile)
