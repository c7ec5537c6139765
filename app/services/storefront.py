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
        """The refusal's own last words, "insert €0.40 more", or None when one unit can be bought."""
        if self.refusal is None:
            return None
        return self.refusal.message.rpartition("; ")[2]


def machine_tiles(*, deposit: int, q: str | None, page: int, page_size: int) -> pages.Page:
    """One page of the products in stock (never the whole catalogue), as tiles for this deposit."""
    found = pages.paginate(products.catalogue(q=q, in_stock=True), page=page, page_size=page_size)
    found.items = [Tile(product, vending.sale_refusal(product, 1, deposit)) for product in found.items]
    return found
