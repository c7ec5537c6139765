"""docs/deploy.md says what the deployment files do, with commands and numbers that match them."""

import re
import runpy

import yaml

from tests.deploy.conftest import ROOT


def doc() -> str:
    return (ROOT / "docs" / "deploy.md").read_text()


def sections() -> list[str]:
    return re.findall(r"(?m)^## (.+)$", doc())


def test_the_page_covers_every_part_of_a_deployment():
    assert sections() == ["Docker Compose", "nginx", "Dependencies: the lock files", "Rolling restart",
                          "Backups and restore", "One server on this machine: make serve", "Adding app servers",
                          "Security headers", "Database connections"]
    assert "gunicorn never faces clients directly" in doc()


def test_every_make_target_the_page_names_exists():
    targets = set(re.findall(r"(?m)^([a-z-]+):", (ROOT / "Makefile").read_text()))
    named = set(re.findall(r"`make ([a-z-]+)", doc())) | set(re.findall(r"(?m)^(?:\S+=\S+ )*make ([a-z-]+)", doc()))
    assert {"lock", "backup", "restore", "run", "test"} <= named
    assert named <= targets, named - targets


def test_the_restore_command_is_spelled_as_the_makefile_reads_it():
    assert re.search(r"make restore BACKUP_FILE=\S+ \\\n\s+DATABASE_URL=postgresql\+psycopg://", doc())
    assert "FORCE=1" in doc()


def test_the_connection_arithmetic_matches_the_shipped_defaults(monkeypatch):
    text = doc()[doc().index("## Database connections"):]
    assert "max_connections (100 by default)" in text
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 2)
    for name in [name for name in __import__("os").environ if name.startswith("GUNICORN_")]:
        monkeypatch.delenv(name)
    cfg = runpy.run_path(str(ROOT / "gunicorn_cfg.py"))
    per_process = 5 + 5
    assert f"{cfg['workers']} workers x {per_process} = **{cfg['workers'] * per_process} per server**" in text
    assert f"two servers **{2 * cfg['workers'] * per_process}**" in text
    assert f"{cfg['workers']} x {cfg['threads']} = {cfg['workers'] * cfg['threads']}" in text
    app = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app"]["environment"]
    workers = int(re.search(r":-(\d+)", app["GUNICORN_WORKERS"]).group(1))
    assert f"`GUNICORN_WORKERS={workers}`" in text
    assert f"{workers} x {per_process} = **{workers * per_process} per server**" in text


def test_the_nginx_image_and_timeouts_quoted_are_the_real_ones():
    image = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["nginx"]["image"]
    assert f"`{image}`" in doc()
    site = (ROOT / "nginx" / "vending.conf").read_text()
    assert re.search(r"(?m)^    keepalive_timeout 1s;", site) and "after **1 s** idle" in doc()
    assert "fail_timeout=5s" in site and "`fail_timeout`, 5 s" in doc()
