"""Reports on the web pages: the periods a sales page offers, and orders as CSV rows (money in euros, as on
the pages; the JSON API keeps cents)."""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from app.models import Order
from app.models.columns import FIRST_DAY, LAST_DAY
from app.services import sales
from app.services.coins import in_euros
from app.services.errors import InvalidInput

# The periods offered on the order and sales pages, in UTC days: key -> label.
PERIODS = {"today": "Today", "month": "This month", "30d": "Last 30 days", "year": "This year", "all": "All time"}
DEFAULT_PERIOD = "30d"  # the seller's sales and the operator's orders open on it
CSV_COLUMNS = ("order", "created_at_utc", "buyer", "seller", "product_id", "product", "unit_price_eur", "units",
               "total_eur", "paid_in_eur", "change_eur", "status", "refunded_at_utc", "refunded_eur", "net_eur")
# A cell a spreadsheet would run as a formula (CSV injection): such a value is written with a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


DAY_RULE = f"Choose a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"


def check_day(day: date, field: str | None = None) -> None:
    """A day the order lists and reports can filter by (app.models.columns.FIRST_DAY to LAST_DAY): one
    outside is refused before any date arithmetic or query, where it would overflow."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(DAY_RULE, field=field)


def period_range(period: str, *, today: date) -> tuple[date | None, date | None]:
    """The first and last UTC day of a period of PERIODS (None: open)."""
    first = {
        "today": today,
        "month": today.replace(day=1),
        "30d": today - timedelta(days=29),
        "year": today.replace(month=1, day=1),
        "all": None,
    }[period]
    return first, None if period == "all" else today


def period_of(since: date | None, until: date | None, *, today: date) -> str | None:
    """The period of PERIODS that the range is, or None."""
    return next((key for key in PERIODS if period_range(key, today=today) == (since, until)), None)


def _amount(cents: int) -> str:
    """1.50, -0.05: a plain number, whatever the reader's locale, so that a spreadsheet can add them up."""
    return str(in_euros(cents))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_lines(orders: Iterable[Order]) -> Iterator[str]:
    """The header and one line per order, each as text (to stream)."""
    out = io.StringIO()
    writer = csv.writer(out)

    def line(values) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow([_cell(v) for v in values])
        return out.getvalue()

    yield line(CSV_COLUMNS)
    for o in orders:
        figures = sales.of_order(o)
        yield line((
            o.id, o.created_at.strftime("%Y-%m-%d %H:%M:%S"), o.buyer_username, o.seller_username, o.product_id,
            o.product_name, _amount(o.unit_cost), o.amount, _amount(figures.gross), _amount(o.paid_in),
            _amount(sum(o.change or [])), o.status,
            o.refunded_at.strftime("%Y-%m-%d %H:%M:%S") if o.refunded_at else "",
            _amount(figures.refunds), _amount(figures.net),
        ))
