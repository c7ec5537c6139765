"""The periods of the sales pages, and the CSV of orders."""

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from app.services import reports
from app.services.errors import InvalidInput

TODAY = date(2026, 11, 30)


def test_each_period_is_a_range_of_utc_days_up_to_today():
    assert {key: reports.period_range(key, today=TODAY) for key in reports.PERIODS} == {
        "today": (TODAY, TODAY),
        "month": (date(2026, 11, 1), TODAY),
        "30d": (date(2026, 11, 1), TODAY),
        "year": (date(2026, 1, 1), TODAY),
        "all": (None, None),
    }
    assert reports.period_range("30d", today=date(2026, 3, 1)) == (date(2026, 1, 31), date(2026, 3, 1))
    assert reports.DEFAULT_PERIOD in reports.PERIODS


@pytest.mark.parametrize("since, until, field", [
    (None, date(9999, 12, 31), "until"), (None, date(1, 1, 1), "until"), (date(1, 1, 1), None, "since"),
    (date(1969, 12, 31), date(1970, 1, 5), "since"), (date(9999, 12, 1), None, "since"),
])
def test_days_outside_what_the_app_stores_are_refused(since, until, field):
    with pytest.raises(InvalidInput, match="Choose a day from 1970-01-01 to 9998-12-31") as refused:
        for day, name in ((since, "since"), (until, "until")):
            if day is not None:
                reports.check_day(day, name)
    assert refused.value.field == field


def test_a_range_is_named_after_the_first_period_it_is():
    assert reports.period_of(TODAY, TODAY, today=TODAY) == "today"
    assert reports.period_of(date(2026, 11, 1), TODAY, today=TODAY) == "month"  # the last 30 days too, in November
    assert reports.period_of(date(2026, 11, 1), TODAY, today=date(2026, 12, 1)) is None
    assert reports.period_of(None, None, today=TODAY) == "all"
    assert reports.period_of(date(2026, 1, 1), None, today=TODAY) is None


def test_csv_lines_in_euros_with_formulas_defused():
    order = SimpleNamespace(
        id=7, created_at=datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC), buyer_username="bob",
        seller_username="sally", product_id=3, product_name="=HYPERLINK(\"x\")", unit_cost=35, amount=2,
        total_spent=70, paid_in=125, change=[50, 5], status="refunded", refunded_amount=70,
        refunded_at=datetime(2026, 11, 30, 12, 5, tzinfo=UTC),
    )
    paid = SimpleNamespace(**{**vars(order), "id": 8, "status": "paid", "refunded_amount": 0, "refunded_at": None})
    rows = list(csv.reader(io.StringIO("".join(reports.csv_lines([order, paid])))))
    assert rows[0] == list(reports.CSV_COLUMNS)
    assert rows[1] == ["7", "2026-11-30 12:00:01", "bob", "sally", "3", "'=HYPERLINK(\"x\")", "0.35", "2", "0.70",
                       "1.25", "0.55", "refunded", "2026-11-30 12:05:00", "0.70", "0.00"]
    assert rows[2][8:] == ["0.70", "1.25", "0.55", "paid", "", "0.00", "0.70"]  # gross, ..., refunded, net
