"""Helpers shared by the pages: refusals shown at their field, numbered pages, and the order lists'
filters, totals and CSV."""



from datetime import UTC, datetime

from flask import (
    Response,
    flash,
    request,
    stream_with_context,
)

from app.data import pages
from app.home.auth import (
    actor,
)
from app.home.forms import (
    OrderFilterForm,
)
from app.services import (
    operator,
    orders,
    reports,
)
from app.services.coins import COINS, coin_label
from app.services.errors import ServiceError

PAGE_SIZE = 12
# Service field names (API spelling) -> form field names.
FIELD_NAMES = {"productName": "product_name", "amountAvailable": "amount_available", "product_id": "product_id",
               "lowStockAt": "low_stock_at"}
FIELD_NAMES.update({str(coin): f"c{coin}" for coin in COINS})



def show_error(error: ServiceError, form=None) -> None:
    """Put a service refusal next to its field when the form has it, else in a flash message."""
    placed = False
    for name, messages in (error.errors or {}).items():
        field = getattr(form, FIELD_NAMES.get(name, name), None) if form is not None else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), *messages]
            placed = True
    if not placed:
        flash(error.message, "danger")


def page_number(name: str = "page") -> int:
    return max(request.args.get(name, 1, type=int) or 1, 1)


def paginate(stmt, name: str = "page"):
    return pages.paginate(stmt, page=page_number(name), page_size=PAGE_SIZE)


def coins_text(coins: list[int]) -> str:
    """50c, 5c (for messages; the pages draw the coins)."""
    return ", ".join(coin_label(coin) for coin in coins)


def read_filters(form: OrderFilterForm, *, seller_by_name: bool = False,
                 default_period: str | None = None) -> orders.OrderFilters | None:
    """The order list's filters from the query string, or None (the errors are on the form's fields). A
    period (reports.PERIODS) sets the dates, shown in the form; without a period or dates in the query (the
    page as first opened), `default_period` does."""
    if not form.validate():
        return None
    period = form.period.data or None
    if period is None and "since" not in request.args and "until" not in request.args:
        period = default_period
    if period is not None:
        form.since.data, form.until.data = reports.period_range(period, today=utc_today())
    seller_id = None
    if seller_by_name and form.seller.data:
        try:
            seller_id = operator.seller_id_by_name(actor(), form.seller.data)
        except ServiceError as error:
            show_error(error, form)
            return None
    return orders.OrderFilters(since=form.since.data, until=form.until.data, seller_id=seller_id,
                               product_id=form.product.data, status=form.status.data or None)


def utc_today():
    """Today's UTC day: the periods and the sales aggregate count in UTC days."""
    return datetime.now(UTC).date()


def filter_view(form: OrderFilterForm) -> dict:
    """What the filter form's template needs besides the form: the filters as query arguments, for the
    Older/Newer, CSV and period links (the period by its name, else the dates shown), the period the dates
    are (or None) and the periods offered."""
    period = None if form.errors else reports.period_of(form.since.data, form.until.data, today=utc_today())
    args = {}
    if not form.errors:
        args = {name: request.args.get(name) for name in ("seller", "product", "status")}
        if period is not None:
            args["period"] = period
        else:
            args.update({name: getattr(form, name).data.isoformat() for name in ("since", "until")
                         if getattr(form, name).data})
    return {"args": {name: value for name, value in args.items() if value}, "period": period,
            "periods": reports.PERIODS}


def order_list(filters: orders.OrderFilters | None, form: OrderFilterForm) -> pages.KeysetPage:
    """A keyset page of the actor's orders (newest first); empty when the filters were refused."""
    if filters is None:
        return pages.KeysetPage([], None, None)
    try:
        return orders.order_page(actor(), filters, cursor=request.args.get("cursor") or None, size=PAGE_SIZE)
    except ServiceError as error:
        show_error(error, form)
        return pages.KeysetPage([], None, None)


def csv_download(filters: orders.OrderFilters, name: str) -> Response:
    """Every order of the filtered list as CSV, streamed a batch at a time."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    lines = reports.csv_lines(orders.export_orders(actor(), filters))
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'})


