"""Sessions in a real browser: the second-login warning, device names, ending others, log out everywhere; roles."""

import os
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession, User
from app.services import users
from tests.e2e.conftest import CHROMIUM, PHONE, check_page

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
PASSWORD = "correct-horse-1"


def register(page, username: str, role: str) -> None:
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_label("seller" if role == "seller" else "buyer", exact=False).check()
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Welcome, {username}!")


def login(page, username: str):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def test_second_login_warns_and_log_out_everywhere_signs_out_the_first(app, new_page, screenshot):
    users.register("carol", PASSWORD, "buyer")
    first = new_page()
    first.goto("/login")
    check_page(first, "login")
    screenshot(first, "login")
    login(first, "carol")
    expect(first).to_have_url(re.compile(r"/machine$"))
    expect(first.locator("#active-session")).to_have_count(0)

    second = new_page(**PHONE)
    login(second, "carol")
    check_page(second, "the active-session warning on a phone")
    warning = second.locator("#active-session")
    expect(warning).to_contain_text("There is already an active session using your account")
    expect(warning.get_by_role("button", name="End all other sessions")).to_be_visible()
    second.goto("/sessions")
    expect(second.locator("#sessions tbody tr")).to_have_count(2)
    expect(second.locator("#sessions")).to_contain_text(re.compile(r"(Headless)?Chrome on Linux · this device"))
    check_page(second, "sessions")
    screenshot(second, "sessions")
    second.get_by_role("link", name="Log out everywhere…").click()
    expect(second.locator("main")).to_contain_text("This ends 2 sessions of your account")
    second.get_by_role("button", name="Log out everywhere").click()
    expect(second).to_have_url(re.compile(r"/login$"))
    expect(second.locator(".alert-info")).to_contain_text("Logged out everywhere: 2 sessions ended")
    db.session.rollback()
    user_id = db.session.scalar(select(User.id).where(User.username == "carol"))
    assert db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)).all() == []

    first.goto("/machine")
    expect(first).to_have_url(re.compile(r"/login\?next=%2Fmachine$"))
    expect(first.locator("body")).to_contain_text("please log in again")


def test_end_other_sessions_from_the_warning(app, new_page):
    users.register("dave", PASSWORD, "buyer")
    first, second = new_page(), new_page()
    login(first, "dave")
    login(second, "dave")
    second.locator("#active-session").get_by_role("button", name="End all other sessions").click()
    expect(second.locator(".alert-success")).to_contain_text("Ended 1 other session.")
    first.goto("/machine")
    expect(first).to_have_url(re.compile(r"/login"))
    second.goto("/machine")
    expect(second).to_have_url(re.compile(r"/machine$"))


def test_buyer_cannot_reach_seller_or_operator_pages(app, new_page):
    users.register("erin", PASSWORD, "buyer")
    page = new_page()
    login(page, "erin")
    for path in ("/seller/products", "/seller/products/new", "/admin/tubes"):
        response = page.goto(path)
        assert response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not for your account")
    anonymous = new_page()
    anonymous.goto("/seller/products")
    expect(anonymous).to_have_url(re.compile(r"/login\?next=%2Fseller%2Fproducts$"))
