"""Helpers shared by the pages: refusals shown at their field, numbered pages, and the order lists'
filters, totals and CSV."""



from dataclasses import replace
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


def read_filters(form: OrderFilterForm, *, seller_by_name: bool = False) -> orders.OrderFilters | None:
    """The order list's filters from the query string, or None (the errors are on the form's fields)."""
    if not form.validate():
        return None
    seller_id = None
    if seller_by_name and form.seller.data:
        try:
            seller_id = operator.seller_id_by_name(actor(), form.seller.data)
        except ServiceError as error:
            show_error(error, form)
            return None
    return orders.OrderFilters(since=form.since.data, until=form.until.data, seller_id=seller_id,
                               product_id=form.product.data, status=form.status.data or None)


def in_window(filters: orders.OrderFilters | None, form: OrderFilterForm, *, default_days: int):
    """The filters with their date range filled in (the last `default_days` days unless asked otherwise), shown
    on the form: totals come from the running aggregate over the range, so a page costs the same at any size of
    history. None (the error on the form) for a range the reports refuse."""
    if filters is None:
        return None
    try:
        since, until = reports.date_range(filters.since, filters.until, today=datetime.now(UTC).date(),
                                          default_days=default_days)
    except ServiceError as error:
        show_error(error, form)
        return None
    form.since.data, form.until.data = since, until
    return replace(filters, since=since, until=until)


def filter_args(form: OrderFilterForm) -> dict:
    """The filters as query arguments, for the Older/Newer and CSV links (with the date range shown)."""
    args = {name: request.args.get(name) for name in ("seller", "product", "status")}
    for name in ("since", "until"):
        day = getattr(form, name).data
        args[name] = day.isoformat() if day else None
    return {name: value for name, value in args.items() if value} if not form.errors else {}


def order_list(filters: orders.OrderFilters | None, form: OrderFilterForm):
    """A keyset page of the actor's orders (newest first) and the totals of the filtered list."""
    if filters is None:
        return pages.KeysetPage([], None, None), None
    try:
        page = orders.order_page(actor(), filters, cursor=request.args.get("cursor") or None, size=PAGE_SIZE)
        return page, orders.order_totals(actor(), filters)
    except ServiceError as error:
        show_error(error, form)
        return pages.KeysetPage([], None, None), None


def csv_download(filters: orders.OrderFilters, name: str) -> Response:
    """Every order of the filtered list as CSV, streamed a batch at a time."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    lines = reports.csv_lines(orders.export_orders(actor(), filters))
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'})


