"""The buyer's machine page: the products on sale as tiles, each with what the deposit still lacks."""

from dataclasses import dataclass

from app.data import pages
from app.models import Product
from app.services import products, vending
from app.services.errors import ServiceError


@dataclass
class Tile:
    product: Product
    refusal: ServiceError | None  # why one unit cannot be sold for the deposit now (vending.sale_refusal)

    @property
    def affordable(self) -> bool:
        return self.refusal is None

    @property
    def shortfall(self) -> str | None:
        """What the buyer can do about it: "insert €0.40 more" when money is short, else the refusal."""
        if self.refusal is None:
            return None
        if isinstance(self.refusal, vending.InsufficientDeposit):
            return self.refusal.advice
        return self.refusal.message


def machine_tiles(*, deposit: int, q: str | None, page: int, page_size: int) -> pages.Page:
    """One page of the products in stock (never the whole catalogue), as tiles for this deposit."""
    found = pages.paginate(products.catalogue(q=q, in_stock=True), page=page, page_size=page_size)
    found.items = [Tile(product, vending.sale_refusal(product, 1, deposit)) for product in found.items]
    return found
