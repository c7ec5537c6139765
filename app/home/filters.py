"""Jinja filters and globals for money, coins and times."""

from datetime import UTC, datetime

from app.home import bp
from app.services.coins import COINS_DESC, euros

money = bp.app_template_filter("money")(euros)


@bp.app_template_filter("coin")
def coin_label(value: int) -> str:
    return "€1" if value == 100 else f"{value}¢"


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


@bp.app_template_filter("datetime")
def datetime_label(value: datetime) -> str:
    """A moment as people read it: 2026-12-06 14:05 UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
