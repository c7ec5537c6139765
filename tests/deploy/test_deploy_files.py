"""The deployment files say what the README promises: checked by parsing them and by nginx -t."""

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
    assert "non_idempotent" not in site


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
    assert re.search(r"(?ms)^HEALTHCHECK .*?/healthz", final)
    assert 'CMD ["gunicorn", "-c", "gunicorn_cfg.py", "run:app"]' in final


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "instance", "tests"):
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
        env={"SECRET_KEY": "x" * 40, "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_makefile_has_serve_and_lint_with_bandit():
    makefile = (ROOT / "Makefile").read_text()
    serve = re.search(r"(?m)^serve:.*\n((?:\t.*\n)+)", makefile).group(1)
    assert "gunicorn -c gunicorn_cfg.py run:app" in serve and "APP_CONFIG=production" in serve
    lint = re.search(r"(?m)^lint:.*\n((?:\t.*\n)+)", makefile).group(1)
    assert re.search(r"bandit -q (-c pyproject.toml )?-r app -x tests", lint)
    assert re.search(r"(?m)^test:.*\blint\b", makefile)
