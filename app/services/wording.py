"""Durations as people say them, for the messages of refusals ("wait 30 seconds", never "0 minutes")."""

import math


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def duration(seconds: int) -> str:
    """A length of time, exactly: in hours from two hours on when it is a whole number of them, else in minutes
    when it is a whole number of them, else in seconds (30 seconds, 90 seconds, 1 minute, 15 minutes)."""
    seconds = max(0, int(seconds))
    if seconds >= 7200 and seconds % 3600 == 0:
        return _count(seconds // 3600, "hour")
    if seconds >= 60 and seconds % 60 == 0:
        return _count(seconds // 60, "minute")
    return _count(seconds, "second")


def wait(seconds: float) -> str:
    """How long to wait, rounded up: to the second, and to the minute from two minutes on."""
    seconds = max(1, math.ceil(seconds))
    if seconds >= 120:
        seconds = math.ceil(seconds / 60) * 60
    return duration(seconds)
