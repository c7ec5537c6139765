"""The coins the machine takes and pays out: the one place their values are written."""

COINS: tuple[int, ...] = (5, 10, 20, 50, 100)
COINS_DESC: tuple[int, ...] = tuple(sorted(COINS, reverse=True))
