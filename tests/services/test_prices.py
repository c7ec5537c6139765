"""Euro amounts typed by sellers."""

import pytest

from app.services.coins import euros
from app.services.errors import InvalidInput
from app.services.prices import parse_euros


@pytest.mark.parametrize(
    ("text", "cents"),
    [("0.35", 35), ("0,35", 35), ("€1.20", 120), (" 2 ", 200), ("1.5", 150), ("0.05", 5), ("1000.00", 100_000)],
)
def test_parse_euros(text, cents):
    assert parse_euros(text) == cents


@pytest.mark.parametrize("text", ["", None, "abc", "0.355", "-1", "1e3", "1.2.3", "35 cents", "٣"])
def test_refuses_what_is_not_a_euro_amount(text):
    with pytest.raises(InvalidInput) as refused:
        parse_euros(text)
    assert refused.value.message == "Enter the price in euros, e.g. 0.35"
    assert refused.value.errors == {"cost": ["Enter the price in euros, e.g. 0.35"]}


@pytest.mark.parametrize("cents", [5, 35, 100, 120, 99_995])
def test_round_trip_with_the_money_filter(cents):
    assert parse_euros(euros(cents)) == cents
