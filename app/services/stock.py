"""Sellers' low-stock warnings: a level per product, at or below which the product is shown as low."""

from app.data.transactions import lock_one, write_transaction
from app.models import Product
from app.services.errors import InvalidInput, NotFound
from app.services.policy import Actor, require_product_owner, require_role
from app.services.products import STOCK_MAX

FIELD = "lowStockAt"


def check_low_stock_at(value: object) -> None:
    if type(value) is not int or not 0 <= value <= STOCK_MAX:
        raise InvalidInput(f"The warning level must be a whole number from 0 to {STOCK_MAX}", field=FIELD)


def is_low(product: Product) -> bool:
    """In stock, but no more than the seller's warning level (sold out is told apart)."""
    return 0 < product.amount_available <= product.low_stock_at


@write_transaction
def set_low_stock_at(actor: Actor, product_id: int, value: int) -> Product:
    require_role(actor, "seller")
    check_low_stock_at(value)
    product = lock_one(Product, product_id)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    require_product_owner(actor, product.seller_id)
    product.low_stock_at = value
    return product
