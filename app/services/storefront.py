"""The buyer's machine page: the products on sale as tiles, each saying what its button does for this deposit."""

from dataclasses import dataclass
from functools import lru_cache

from app.data import pages
from app.models import Product
from app.services import operator, products, vending
from app.services.errors import ServiceError

BUY = "buy"
SHORT = "short"  # the deposit does not cover one unit: insert `missing` cents more
SOLD_OUT = "sold_out"
EXACT_CHANGE = "exact_change"  # covered, but the tubes cannot pay the change: insert exactly the price
UNAVAILABLE = "unavailable"  # any other refusal of the sale rule


@dataclass
class Tile:
    product: Product
    refusal: ServiceError | None  # why one unit cannot be sold for the deposit now (vending.sale_refusal)
    change_payable: bool = True  # the change of one unit for this deposit can be paid (vending.change_from)

    @property
    def state(self) -> str:
        """What the tile's button does: BUY, or why not (SHORT, SOLD_OUT, EXACT_CHANGE, UNAVAILABLE)."""
        if isinstance(self.refusal, vending.NotEnoughStock):
            return SOLD_OUT
        if isinstance(self.refusal, vending.InsufficientDeposit):
            return SHORT
        if self.refusal is not None:
            return UNAVAILABLE
        return BUY if self.change_payable else EXACT_CHANGE

    @property
    def can_buy(self) -> bool:
        return self.state == BUY

    @property
    def missing(self) -> int | None:
        """Cents still to insert for one unit (SHORT), else None."""
        return self.refusal.missing if isinstance(self.refusal, vending.InsufficientDeposit) else None


@lru_cache(maxsize=256)
def _payable(change: int, escrowed: tuple[tuple[int, int], ...], tubes: tuple[tuple[int, int], ...]) -> bool:
    """Whether a sale can pay `change` (cached: a reload of the page with the same coins costs nothing; a large
    deposit makes one answer cost milliseconds)."""
    return vending.change_from(change, dict(escrowed), dict(tubes)) is not None


def machine_tiles(escrow: vending.Escrow, *, initial_float: int, q: str | None, page: int,
                  page_size: int) -> pages.Page:
    """One page of the products on sale (never the whole catalogue), sold-out ones included (they keep their
    place, as in a real machine), as tiles for this buyer's coins: the sale rule (vending.sale_refusal) for one
    unit, and for a deposit that covers it, whether the tubes can pay its change (vending.change_from)."""
    found = pages.paginate(products.catalogue(q=q), page=page, page_size=page_size)
    escrowed = tuple(sorted(escrow.coins.items()))
    tubes = None
    tiles = []
    for product in found.items:
        refusal = vending.sale_refusal(product, 1, escrow.deposit)
        payable = True
        if refusal is None and escrow.deposit > product.cost:
            tubes = tubes or tuple(sorted(operator.read_tubes(initial_float).items()))
            payable = _payable(escrow.deposit - product.cost, escrowed, tubes)
        tiles.append(Tile(product, refusal, payable))
    found.items = tiles
    return found
