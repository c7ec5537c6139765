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
# axe-core, vendored by tools/vendor-assets.sh: injected into pages by the tests only, never served by the app.
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
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
    """new_page(width=1280, height=800, **context_options): a page in a fresh browser context (its own cookies).

    Every page records the console errors it logs (a Content-Security-Policy refusal among them): the test
    fails if any page logged one.
    """
    contexts = []
    errors: list[str] = []

    def make(width: int = 1280, height: int = 800, **options):
        context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: errors.append(f"{page.url}: {message.text}")
                if message.type == "error" and "status of 4" not in message.text else None)
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], "the pages logged errors"


_axe_source: list[str] = []


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of the page as it is now (only the given impacts): "rule: target" lines."""
    if not _axe_source:
        _axe_source.append(AXE.read_text())
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(_axe_source[0])  # through DevTools: the page's CSP does not apply, the page is not changed
    results = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:4])}"
            for v in results if v["impact"] in impacts]


def check_page(page, what: str = "") -> None:
    """axe finds no serious or critical violation; no action (button, link button, submit) sticks out of the
    viewport sideways and the page does not scroll sideways."""
    assert axe_violations(page) == [], f"axe on {what or page.url}"
    outside = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const actions = document.querySelectorAll('button, a.btn, input[type=submit], .page-link');
        return Array.from(actions).filter((el) => {
            const box = el.getBoundingClientRect();
            return box.width > 0 && el.closest('.navbar-collapse:not(.show)') === null
                && (box.left < -1 || box.right > width + 1);
        }).map((el) => el.outerHTML.slice(0, 80));
    }""")
    assert outside == [], f"actions outside the viewport on {what or page.url}"
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
        f"{what or page.url} scrolls sideways"


@pytest.fixture
def screenshot():
    """Save docs/screenshots/<name>.png, only when UPDATE_SCREENSHOTS=1 (CI must not dirty the tree)."""

    def save(page, name: str, *, full_page: bool = True) -> None:
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, animations="disabled")

    return save
