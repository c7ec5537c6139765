"""Reports on the web pages: the date range of a sales chart, its series with every day in it, and orders
as CSV rows (money in euros, as on the pages; the JSON API keeps cents)."""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from app.models import Order
from app.models.columns import FIRST_DAY, LAST_DAY
from app.services.coins import in_euros
from app.services.errors import InvalidInput
from app.services.sales import DaySales

MAX_DAYS = 366
DEFAULT_DAYS = 30  # a seller's sales page
OPERATOR_DEFAULT_DAYS = 7  # the operator's orders: every seller's sales, so a shorter window by default
CSV_COLUMNS = ("order", "created_at_utc", "buyer", "seller", "product_id", "product", "unit_price_eur", "units",
               "total_eur", "paid_in_eur", "change_eur", "status", "refunded_at_utc")
# A cell a spreadsheet would run as a formula (CSV injection): such a value is written with a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


DAY_RULE = f"Choose a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"


def check_day(day: date, field: str | None = None) -> None:
    """A day the order lists and reports can filter by (app.models.columns.FIRST_DAY to LAST_DAY): one
    outside is refused before any date arithmetic or query, where it would overflow."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(DAY_RULE, field=field)


def date_range(since: date | None, until: date | None, *, today: date,
               default_days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The range asked for, or the last `default_days` days up to today; at most MAX_DAYS days long."""
    for day, field in ((since, "since"), (until, "until")):
        if day is not None:
            check_day(day, field)
    until = until or today
    since = since or max(until - timedelta(days=default_days - 1), FIRST_DAY)
    if until < since:
        raise InvalidInput("The end date must not be before the start date", field="until")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInput(f"Choose a range of at most {MAX_DAYS} days", field="since")
    return since, until


def every_day(by_day: Iterable[DaySales], since: date, until: date) -> list[DaySales]:
    """The days of the range in order, a day without sales as zeros (a chart's x axis has no gaps)."""
    known = {row.day: row for row in by_day}
    days = (since + timedelta(days=n) for n in range((until - since).days + 1))
    return [known.get(day) or DaySales(day, 0, 0, 0) for day in days]


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
        yield line((
            o.id, o.created_at.strftime("%Y-%m-%d %H:%M:%S"), o.buyer_username, o.seller_username, o.product_id,
            o.product_name, _amount(o.unit_cost), o.amount, _amount(o.total_spent), _amount(o.paid_in),
            _amount(sum(o.change or [])), o.status,
            o.refunded_at.strftime("%Y-%m-%d %H:%M:%S") if o.refunded_at else "",
        ))
