"""What the browser stories share: logging in, reading the database afterwards, the machine's set-up."""

import re

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.services import machine, products, users
from app.services.policy import Actor

PASSWORD = "correct-horse-1"


def login(page, username: str, *, expect_path: str | None = None) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():  # and the page it leads to loaded, its scripts run
        page.get_by_role("button", name="Log in").click()
    if expect_path:
        expect(page).to_have_url(re.compile(re.escape(expect_path) + r"$"))


def fresh(model, **where):
    db.session.rollback()
    return db.session.scalar(select(model).filter_by(**where))


def account(username: str, role: str) -> Actor:
    user = users.register(username, PASSWORD, role, allow_admin=True)
    return Actor(user.id, role)


def stock_the_machine(seller: Actor, items: dict[str, tuple[int, int]], *, tubes: dict[int, int] | None = None,
                      refundable: tuple[str, ...] = ()) -> dict[str, int]:
    """Products of `seller` {name: (cost, stock)} and, when given, the tubes; returns {name: product id}."""
    ids = {}
    for name, (cost, amount) in items.items():
        ids[name] = products.create_product(
            seller, {"product_name": name, "cost": cost, "amount_available": amount, "refundable": name in refundable}
        ).id
    if tubes is not None:
        full = {coin: tubes.get(coin, 0) for coin in (5, 10, 20, 50, 100)}
        machine.set_tubes(Actor(0, "admin"), full, initial_float=20)
    return ids


def coins_shown(page, selector: str) -> list[str]:
    return page.locator(f"{selector} .coin").all_inner_texts()
