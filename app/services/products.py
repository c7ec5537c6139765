"""The catalogue: sellers create, edit, restock and remove their products."""

import unicodedata

from sqlalchemy import Select, func, select

from app.data.transactions import lock_one, write_transaction
from app.extensions import db
from app.models import Product
from app.services.errors import Conflict, InvalidInput, NotFound
from app.services.policy import Actor, require_product_owner, require_role

NAME_MAX = 64
COST_MAX = 100_000
STOCK_MAX = 10_000
EDITABLE = ("product_name", "cost", "amount_available", "refundable")

# Unicode's Bidi_Control characters: they reorder the text around them, so a name shows as something else
# ("\u202eeloC" displays as "Cole") and can turn the text after it, on a page or in a CSV, around too.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The joiners are the only invisible formatting characters a name may hold: emoji sequences and several
# scripts need them. Every other one (zero-width space, word joiner, byte-order mark, ...) is refused.
JOINERS = frozenset("\u200c\u200d")
# Characters that draw nothing although they are letters or symbols (Hangul fillers, the blank Braille
# pattern), and the variation selectors, which only change the look of the character before them.
BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800") | {chr(c) for c in range(0xFE00, 0xFE10)}


def name_refusal(name: str) -> str | None:
    """Why a product name cannot be shown as it is typed, or None: control characters (line breaks, NUL,
    ...), direction controls, invisible characters, or nothing visible at all."""
    categories = {unicodedata.category(char) for char in name}
    if categories & {"Cc", "Zl", "Zp"}:
        return "Product name must not contain control characters such as line breaks or tabs"
    if BIDI_CONTROLS.intersection(name):
        return "Product name must not contain text-direction controls"
    if any(unicodedata.category(char) == "Cf" and char not in JOINERS for char in name):
        return "Product name must not contain invisible characters such as zero-width spaces"
    if all(char.isspace() or char in JOINERS or char in BLANK for char in name):
        return "Product name must contain a visible character"
    return None


def check_product_fields(fields: dict) -> None:
    """The rules of a product's fields; the schemas and forms enforce the same through these."""
    if "product_name" in fields:
        name = fields["product_name"]
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            raise InvalidInput(f"Product name must be 1-{NAME_MAX} characters", field="productName")
        refusal = name_refusal(name)
        if refusal:
            raise InvalidInput(refusal, field="productName")
    if "cost" in fields:
        cost = fields["cost"]
        if type(cost) is not int or not 0 < cost <= COST_MAX or cost % 5:
            raise InvalidInput(f"Cost must be a positive multiple of 5 cents, at most {COST_MAX}", field="cost")
    if "amount_available" in fields:
        amount = fields["amount_available"]
        if type(amount) is not int or not 0 <= amount <= STOCK_MAX:
            raise InvalidInput(f"Stock must be a whole number from 0 to {STOCK_MAX}", field="amountAvailable")
    if "refundable" in fields and type(fields["refundable"]) is not bool:
        raise InvalidInput("Refundable must be true or false", field="refundable")


def catalogue(*, q: str | None = None, seller_id: int | None = None, in_stock: bool | None = None) -> Select:
    stmt = select(Product).where(Product.on_sale.is_(True)).order_by(Product.id)
    if q:
        escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Product.name_key.like(f"%{escaped}%", escape="\\"))
    if seller_id is not None:
        stmt = stmt.where(Product.seller_id == seller_id)
    if in_stock is True:
        stmt = stmt.where(Product.amount_available > 0)
    elif in_stock is False:
        stmt = stmt.where(Product.amount_available == 0)
    return stmt


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    return product


def _check_name_free(name: str, except_id: int | None = None) -> None:
    stmt = select(func.count()).select_from(Product).where(
        Product.name_key == name.strip().lower(), Product.on_sale.is_(True)
    )
    if except_id is not None:
        stmt = stmt.where(Product.id != except_id)
    if db.session.scalar(stmt):
        message = "A product with that name is already on sale"
        raise Conflict(message, {"productName": [message]})


@write_transaction
def create_product(actor: Actor, fields: dict) -> Product:
    require_role(actor, "seller")
    fields = {"refundable": False, **fields}
    for required in ("product_name", "cost", "amount_available"):
        if required not in fields:
            raise InvalidInput("This field is required", field=required)
    check_product_fields(fields)
    name = fields["product_name"].strip()
    _check_name_free(name)
    product = Product(
        product_name=name,
        name_key=name.lower(),
        cost=fields["cost"],
        amount_available=fields["amount_available"],
        units_stocked=fields["amount_available"],
        refundable=fields["refundable"],
        seller_id=actor.id,
    )
    db.session.add(product)
    db.session.flush()
    return product


@write_transaction
def update_product(actor: Actor, product_id: int, fields: dict) -> Product:
    """Change some or all fields; a stock change is recorded as a restock or removal."""
    require_role(actor, "seller")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Unknown field {sorted(unknown)[0]}")
    check_product_fields(fields)
    product = lock_one(Product, product_id)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    require_product_owner(actor, product.seller_id)
    if "product_name" in fields:
        name = fields["product_name"].strip()
        _check_name_free(name, except_id=product.id)
        product.product_name = name
        product.name_key = name.lower()
    if "cost" in fields:
        product.cost = fields["cost"]
    if "refundable" in fields:
        product.refundable = fields["refundable"]
    if "amount_available" in fields:
        product.units_stocked += fields["amount_available"] - product.amount_available
        product.amount_available = fields["amount_available"]
    return product


@write_transaction
def restock(actor: Actor, product_id: int, units: int) -> Product:
    """Add units to the current stock, whatever buyers did meanwhile."""
    require_role(actor, "seller")
    if type(units) is not int or units < 1:
        raise InvalidInput("Add at least one unit", field="units")
    product = lock_one(Product, product_id)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    require_product_owner(actor, product.seller_id)
    if product.amount_available + units > STOCK_MAX:
        raise InvalidInput(f"Stock cannot exceed {STOCK_MAX}", field="units")
    product.amount_available += units
    product.units_stocked += units
    return product


@write_transaction
def delete_product(actor: Actor, product_id: int) -> None:
    """Take a product off sale. The row stays so that orders keep pointing at it."""
    require_role(actor, "seller")
    product = lock_one(Product, product_id)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    require_product_owner(actor, product.seller_id)
    product.on_sale = False
