"""Prices as people type them: "0.35", "€1,20", "2" -> cents. Shown with app.services.coins.euros."""

import re

from app.services.errors import InvalidInput

EURO_TEXT = re.compile(r"([0-9]{1,6})(?:[.,]([0-9]{1,2}))?")


def parse_euros(text: str | None, *, field: str = "cost") -> int:
    """Cents from a euro amount with at most two decimals; InvalidInput for anything else."""
    cleaned = (text or "").strip().removeprefix("€").strip()
    match = EURO_TEXT.fullmatch(cleaned)
    if match is None:
        raise InvalidInput("Enter the price in euros, e.g. 0.35", field=field)
    whole, fraction = match.groups()
    return int(whole) * 100 + int((fraction or "0").ljust(2, "0"))
