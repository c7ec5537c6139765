"""A real server (werkzeug, threaded, CSRF on) on 127.0.0.1 and Debian's Chromium driven by Playwright."""

import os
import socket
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

import config
from app import create_app

CHROMIUM = "/usr/bin/chromium"
PORTS = range(5101, 5200)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5101-5199")


@pytest.fixture
def live_server(app, database_url):
    """The app served for real, against the test database, with CSRF protection on."""
    served = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI=database_url, WTF_CSRF_ENABLED=True)
    port = free_port()
    server = make_server("127.0.0.1", port, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with served.app_context():
            from app.extensions import db

            db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (CI's .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser, live_server):
    """new_page(width=1280, height=860): a page in a fresh browser context (its own cookies)."""
    contexts = []

    def make(width: int = 1280, height: int = 860):
        context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """Save docs/screenshots/<name>.png, only when UPDATE_SCREENSHOTS=1 (CI must not dirty the tree)."""

    def save(page, name: str) -> None:
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save
