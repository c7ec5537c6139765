"""products service: catalogue rules without HTTP."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Product
from app.services import products
from app.services.errors import Conflict, Forbidden, InvalidInput, NotFound

VALID = {"product_name": "Cola", "cost": 35, "amount_available": 10}


def test_create_by_a_seller(app, seller):
    product = products.create_product(seller.actor, {**VALID, "product_name": "  Cola  "})
    db.session.rollback()
    row = db.session.get(Product, product.id)
    assert (row.product_name, row.name_key, row.seller_id, row.refundable, row.units_stocked, row.on_sale) == (
        "Cola", "cola", seller.id, False, 10, True)


@pytest.mark.parametrize("who", ["buyer", "admin"])
def test_only_sellers_create(app, request, who):
    with pytest.raises(Forbidden):
        products.create_product(request.getfixturevalue(who).actor, VALID)


@pytest.mark.parametrize("fields, field", [
    ({"product_name": ""}, "productName"), ({"product_name": " "}, "productName"),
    ({"product_name": "x" * 65}, "productName"), ({"cost": 0}, "cost"), ({"cost": 7}, "cost"),
    ({"cost": 100_005}, "cost"), ({"cost": True}, "cost"), ({"cost": 5.0}, "cost"),
    ({"amount_available": -1}, "amountAvailable"), ({"amount_available": 10_001}, "amountAvailable"),
    ({"amount_available": True}, "amountAvailable"), ({"refundable": 1}, "refundable"),
])
def test_field_rules(app, seller, fields, field):
    with pytest.raises(InvalidInput) as raised:
        products.create_product(seller.actor, {**VALID, **fields})
    assert raised.value.field == field
    assert db.session.scalar(select(Product.id)) is None


# Issue 22's examples: names that would not show as typed. Each is refused with its reason; none is stripped.
UNSHOWABLE_NAMES = {
    "line break": ("Co\nla", "control characters"), "tab": ("Co\tla", "control characters"),
    "escape": ("\x1b[31mCola", "control characters"), "NUL": ("Cola\x00", "control characters"),
    "delete": ("Cola\x7f", "control characters"), "C1 next line": ("Cola\x85", "control characters"),
    "line separator": ("Co\u2028la", "control characters"),
    "right-to-left override": ("rtl \u202eloC", "text-direction controls"),
    "left-to-right embedding": ("\u202aCola", "text-direction controls"),
    "pop directional formatting": ("Cola\u202c", "text-direction controls"),
    "isolates": ("\u2066Cola\u2069", "text-direction controls"),
    "first strong isolate": ("\u2068Cola", "text-direction controls"),
    "marks": ("\u200eCola\u200f", "text-direction controls"),
    "arabic letter mark": ("\u061cCola", "text-direction controls"),
    "zero-width space only": ("\u200b", "invisible characters"),
    "zero-width space inside": ("Co\u200bla", "invisible characters"),
    "byte-order mark": ("\ufeff", "invisible characters"), "word joiner": ("\u2060\u2060", "invisible characters"),
    "soft hyphen": ("Co\u00adla", "invisible characters"),
    "joiner only": ("\u200d", "a visible character"), "non-joiner only": ("\u200c \u200c", "a visible character"),
    "hangul filler": ("\u3164", "a visible character"), "variation selector": ("\ufe0f", "a visible character"),
}


@pytest.mark.parametrize("name, reason", UNSHOWABLE_NAMES.values(), ids=UNSHOWABLE_NAMES.keys())
def test_names_that_would_not_show_as_typed_are_refused(app, seller, name, reason):
    with pytest.raises(InvalidInput, match=reason) as raised:
        products.check_product_fields({"product_name": name})
    assert raised.value.field == "productName"
    with pytest.raises(InvalidInput, match=reason):
        products.create_product(seller.actor, {**VALID, "product_name": name})
    assert db.session.scalar(select(Product.id)) is None


@pytest.mark.parametrize("name", ["Café ☕", "Ünïcödé 日本語", "emoji 🥤🥤", "family 👨\u200d👩\u200d👧",
                                  "red heart ❤\ufe0f", "می\u200cخواهم", "مشروب غازي", "שתייה", "Cola\u00a0Zero"])
def test_names_in_any_script_with_emoji_and_joiners_are_kept(app, seller, name):
    product = products.create_product(seller.actor, {**VALID, "product_name": name})
    assert product.product_name == name


def test_missing_field_and_unknown_field(app, seller):
    with pytest.raises(InvalidInput):
        products.create_product(seller.actor, {"product_name": "Cola", "cost": 5})
    product = products.create_product(seller.actor, VALID)
    with pytest.raises(InvalidInput):
        products.update_product(seller.actor, product.id, {"seller_id": 99})


def test_names_are_unique_among_products_on_sale(app, seller, other_seller):
    cola = products.create_product(seller.actor, VALID)
    with pytest.raises(Conflict):
        products.create_product(other_seller.actor, {**VALID, "product_name": "COLA"})
    products.delete_product(seller.actor, cola.id)
    assert products.create_product(other_seller.actor, {**VALID, "product_name": "COLA"}).seller_id == other_seller.id


def test_only_the_owner_changes_a_product(app, seller, other_seller, buyer, admin):
    cola = products.create_product(seller.actor, VALID)
    for account in (other_seller, buyer, admin):
        with pytest.raises(Forbidden):
            products.update_product(account.actor, cola.id, {"cost": 40})
        with pytest.raises(Forbidden):
            products.delete_product(account.actor, cola.id)
        with pytest.raises(Forbidden):
            products.restock(account.actor, cola.id, 1)
    db.session.rollback()
    assert (db.session.get(Product, cola.id).cost, db.session.get(Product, cola.id).on_sale) == (35, True)


def test_update_tracks_units_stocked(app, seller):
    cola = products.create_product(seller.actor, VALID)
    products.update_product(seller.actor, cola.id, {"amount_available": 4, "cost": 40, "refundable": True})
    db.session.rollback()
    row = db.session.get(Product, cola.id)
    assert (row.amount_available, row.units_stocked, row.cost, row.refundable) == (4, 4, 40, True)


def test_restock_adds_units_up_to_the_maximum(app, seller):
    cola = products.create_product(seller.actor, {**VALID, "amount_available": 9_995})
    assert products.restock(seller.actor, cola.id, 5).amount_available == 10_000
    with pytest.raises(InvalidInput):
        products.restock(seller.actor, cola.id, 1)
    with pytest.raises(InvalidInput):
        products.restock(seller.actor, cola.id, 0)
    db.session.rollback()
    assert db.session.get(Product, cola.id).units_stocked == 10_000


def test_off_sale_products_are_not_found(app, seller):
    cola = products.create_product(seller.actor, VALID)
    products.delete_product(seller.actor, cola.id)
    with pytest.raises(NotFound):
        products.get_product(cola.id)
    with pytest.raises(NotFound):
        products.update_product(seller.actor, cola.id, {"cost": 5})
    with pytest.raises(NotFound):
        products.delete_product(seller.actor, cola.id)
    with pytest.raises(NotFound):
        products.get_product(99999)


def test_catalogue_filters_and_literal_search(app, seller, other_seller):
    a = products.create_product(seller.actor, {**VALID, "product_name": "50% Cola"})
    b = products.create_product(seller.actor, {**VALID, "product_name": "500 Cola", "amount_available": 0})
    c = products.create_product(other_seller.actor, {**VALID, "product_name": "Water_1"})
    d = products.create_product(other_seller.actor, {**VALID, "product_name": "WaterX1"})

    def ids(**kw):
        return [p.id for p in db.session.scalars(products.catalogue(**kw))]

    assert ids() == [a.id, b.id, c.id, d.id]
    assert ids(q="%") == [a.id]
    assert ids(q="r_") == [c.id]
    assert ids(q="COLA") == [a.id, b.id]
    assert ids(seller_id=other_seller.id) == [c.id, d.id]
    assert ids(in_stock=True) == [a.id, c.id, d.id]
    assert ids(in_stock=False) == [b.id]
    assert ids(q="\\") == []
