"""Cursors of the keyset pages: only what the app made goes back to the database."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.data.pages import MAX_CURSOR_LENGTH, BadCursor, decode_cursor, encode_cursor


def forged(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("moment, ident", [
    (datetime(2026, 11, 30, 12, 0, 1, 123456, tzinfo=UTC), 1),
    (datetime(1970, 1, 1, tzinfo=UTC), 2**63 - 1),
    (datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 42),
])
def test_a_cursor_the_app_made_decodes_to_what_it_holds(moment, ident):
    assert decode_cursor(encode_cursor("older", moment, ident)) == ("older", moment, ident)


def test_a_moment_with_an_offset_is_read_in_utc():
    east = datetime(2026, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert decode_cursor(forged("newer", east.isoformat(), 7)) == ("newer", datetime(2026, 1, 1, tzinfo=UTC), 7)


FORGED = {
    "id 2**63": forged("older", "2026-01-01T00:00:00+00:00", 2**63),
    "id 0": forged("older", "2026-01-01T00:00:00+00:00", 0),
    "negative id": forged("older", "2026-01-01T00:00:00+00:00", -5),
    "float id": forged("older", "2026-01-01T00:00:00+00:00", 5.0),
    "boolean id": forged("older", "2026-01-01T00:00:00+00:00", True),
    "naive moment": forged("older", "2026-01-01T00:00:00", 1),
    "before 1970": forged("older", "1969-12-31T23:59:59+00:00", 1),
    "after 9998": forged("older", "9999-01-01T00:00:00+00:00", 1),
    "year 1 east of UTC (overflows)": forged("newer", "0001-01-01T00:00:00+05:00", 1),
    "year 9999 west of UTC (overflows)": forged("newer", "9999-12-31T23:00:00-05:00", 1),
    "moment not a string": forged("older", 1767225600, 1),
    "unknown direction": forged("sideways", "2026-01-01T00:00:00+00:00", 1),
    "two parts": forged("older", 1),
    "an object": base64.urlsafe_b64encode(b'{"older": 1, "x": 2, "y": 3}').decode(),
    "a three-letter string": base64.urlsafe_b64encode(b'"abc"').decode(),
    "not base64": "%%%",
    "not json": base64.urlsafe_b64encode(b"older,1").decode(),
    "not utf-8": base64.urlsafe_b64encode(b'["\\xff"]' + b"\xff").decode(),
    "too long": "A" * (MAX_CURSOR_LENGTH + 1),
}


@pytest.mark.parametrize("cursor", FORGED.values(), ids=FORGED.keys())
def test_a_forged_cursor_is_refused(cursor):
    with pytest.raises(BadCursor):
        decode_cursor(cursor)
