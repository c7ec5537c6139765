"""Jinja filters for money, times and coins: money and times through Flask-Babel, in the reader's locale and
time zone (app.home.locale chooses them); nothing here writes a currency or date format by hand."""

from datetime import date as Date
from datetime import datetime as DateTime

from babel.dates import get_datetime_format
from flask_babel import format_currency, format_date, format_time, get_locale, get_timezone

from app.home import bp
from app.services.coins import COINS, COINS_DESC, coin_label, in_euros

CURRENCY = "EUR"


@bp.app_template_filter("money")
def money(cents: int | None) -> str:
    """Cents as the reader writes euros: 35 -> "€0.35" (en), "0,35 €" (de, fr)."""
    return format_currency(in_euros(cents or 0), CURRENCY)


@bp.app_template_filter("datetime")
def datetime(value: DateTime | None, *, seconds: bool = False) -> str:
    """A moment (stored in UTC) in the reader's time zone and locale: "Dec 7, 2026, 2:05 PM" (en) or
    "07.12.2026, 14:05" (de); with `seconds`, "2:05:09 PM". The locale's own way of joining date and time."""
    if value is None:
        return ""
    day = format_date(value, "medium")  # rebased to the reader's zone first, so the day is theirs
    time = format_time(value, "medium" if seconds else "short")
    joined = get_datetime_format("medium", locale=get_locale())
    return joined.replace("'", "").replace("{1}", day).replace("{0}", time)


@bp.app_template_filter("date")
def date(value: Date | DateTime | None) -> str:
    """A day in the reader's locale ("Dec 7, 2026", "07.12.2026"); a moment is first put in their time zone."""
    return "" if value is None else format_date(value, "medium")


@bp.app_context_processor
def page_context() -> dict:
    """For base.html: the locale as a BCP 47 tag (app.js formats money with it too), the zone of the times and
    the coins the machine takes."""
    return {"locale_tag": lambda: str(get_locale()).replace("_", "-"), "time_zone": lambda: get_timezone().zone,
            "coins_accepted": COINS}


@bp.app_template_filter("coin")
def coin(value: int) -> str:
    return coin_label(value)


@bp.app_template_filter("coin_counts")
def coin_counts(coins: list[int] | dict[int, int]) -> list[tuple[int, int]]:
    """[(coin, count), ...] largest first, from a coin list or a {coin: count} dict."""
    if isinstance(coins, dict):
        counts = {int(k): v for k, v in coins.items()}
    else:
        counts = {}
        for value in coins or []:
            counts[value] = counts.get(value, 0) + 1
    return [(c, counts[c]) for c in COINS_DESC if counts.get(c)]
