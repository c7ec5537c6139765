"""Chart ranges and series, and the CSV of orders."""

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from app.services import reports
from app.services.errors import InvalidInput
from app.services.sales import DaySales

TODAY = date(2026, 11, 30)


def test_date_range_defaults_to_the_last_30_days_and_is_bounded():
    assert reports.date_range(None, None, today=TODAY) == (date(2026, 11, 1), TODAY)
    assert reports.date_range(date(2026, 11, 20), None, today=TODAY) == (date(2026, 11, 20), TODAY)
    with pytest.raises(InvalidInput, match="must not be before") as refused:
        reports.date_range(date(2026, 11, 20), date(2026, 11, 19), today=TODAY)
    assert refused.value.field == "until"
    with pytest.raises(InvalidInput, match="at most 366 days"):
        reports.date_range(date(2025, 1, 1), TODAY, today=TODAY)


@pytest.mark.parametrize("since, until, field", [
    (None, date(9999, 12, 31), "until"), (None, date(1, 1, 1), "until"), (date(1, 1, 1), None, "since"),
    (date(1969, 12, 31), date(1970, 1, 5), "since"), (date(9999, 12, 1), None, "since"),
])
def test_date_range_refuses_days_outside_what_the_app_stores(since, until, field):
    with pytest.raises(InvalidInput, match="Choose a day from 1970-01-01 to 9998-12-31") as refused:
        reports.date_range(since, until, today=TODAY)
    assert refused.value.field == field


def test_a_default_window_never_starts_before_the_first_day():
    assert reports.date_range(None, date(1970, 1, 10), today=TODAY) == (date(1970, 1, 1), date(1970, 1, 10))
    assert reports.date_range(None, date(9998, 12, 31), today=TODAY) == (date(9998, 12, 2), date(9998, 12, 31))


def test_every_day_fills_the_days_without_sales():
    series = reports.every_day([DaySales(date(2026, 11, 29), 2, 3, 105)], date(2026, 11, 28), TODAY)
    assert [(d.day.day, d.orders, d.units, d.revenue) for d in series] == [(28, 0, 0, 0), (29, 2, 3, 105),
                                                                           (30, 0, 0, 0)]


def test_csv_lines_in_euros_with_formulas_defused():
    order = SimpleNamespace(
        id=7, created_at=datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC), buyer_username="bob",
        seller_username="sally", product_id=3, product_name="=HYPERLINK(\"x\")", unit_cost=35, amount=2,
        total_spent=70, paid_in=125, change=[50, 5], status="refunded",
        refunded_at=datetime(2026, 11, 30, 12, 5, tzinfo=UTC),
    )
    rows = list(csv.reader(io.StringIO("".join(reports.csv_lines([order])))))
    assert rows[0] == list(reports.CSV_COLUMNS)
    assert rows[1] == ["7", "2026-11-30 12:00:01", "bob", "sally", "3", "'=HYPERLINK(\"x\")", "0.35", "2", "0.70",
                       "1.25", "0.55", "refunded", "2026-11-30 12:05:00"]
