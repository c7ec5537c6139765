"""Cutting lists into pages: numbered pages (LIMIT/OFFSET and a COUNT) for the small lists, keyset
pages (a cursor, no count) for the ones that grow without bound: the orders."""

import base64
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_

from app.extensions import db
from app.models.columns import EARLIEST, LATEST, MAX_BIG_ID

MAX_PAGE_SIZE = 100
# Far beyond any last page; OFFSET past this would overflow the database's integer.
MAX_OFFSET = 2**62
# A cursor this app makes is about 80 characters long.
MAX_CURSOR_LENGTH = 200


@dataclass
class Page:
    items: list[Any]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.page_size) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def iter_pages(self, edge: int = 2, around: int = 2):
        """Page numbers for a pager, None where a gap is (Flask-SQLAlchemy's shape)."""
        last = 0
        for number in range(1, self.pages + 1):
            if number <= edge or abs(number - self.page) <= around or number > self.pages - edge:
                if last and number - last > 1:
                    yield None
                yield number
                last = number

    def metadata(self) -> dict:
        """What the X-Pagination header says about this page."""
        metadata: dict = {"total": self.total, "total_pages": self.pages}
        if self.total:
            metadata.update(first_page=1, last_page=self.pages)
            if self.page <= self.pages:
                metadata["page"] = self.page
                if self.has_prev:
                    metadata["previous_page"] = self.page - 1
                if self.has_next:
                    metadata["next_page"] = self.page + 1
        return metadata


def paginate(stmt: Select, *, page: int, page_size: int, rows: bool = False) -> Page:
    """Page `page` (from 1) of `stmt`: ORM objects (or plain rows with `rows=True`) and the total."""
    page = max(page, 1)
    offset = (page - 1) * page_size
    items: list = []
    if offset < MAX_OFFSET:
        result = db.session.execute(stmt.limit(page_size).offset(offset))
        items = list(result.all() if rows else result.scalars())
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return Page(items, page, page_size, total)


@dataclass
class KeysetPage:
    """A page of a newest-first list, found by its neighbour's key instead of an offset: it costs the
    same at any depth. `next_cursor` leads to older items, `prev_cursor` to newer ones (None at an end)."""

    items: list[Any]
    next_cursor: str | None
    prev_cursor: str | None


class BadCursor(ValueError):
    """A cursor this app did not make (or made for another list)."""


def encode_cursor(direction: str, created_at: datetime, ident: int) -> str:
    raw = json.dumps([direction, created_at.isoformat(), ident], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, datetime, int]:
    """The direction, moment and id of a cursor, or BadCursor: a forged one may hold anything, so its id must
    fit the id column and its moment be a UTC instant the app stores, before either reaches the database."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursor(cursor[:MAX_CURSOR_LENGTH])
    try:
        direction, moment, ident = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if direction not in ("older", "newer") or type(ident) is not int or not 1 <= ident <= MAX_BIG_ID:
            raise BadCursor(cursor)
        moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            raise BadCursor(cursor)
        moment = moment.astimezone(UTC)
        if not EARLIEST <= moment <= LATEST:
            raise BadCursor(cursor)
        return direction, moment, ident
    except (ValueError, TypeError, OverflowError) as error:  # OverflowError: an offset past year 1 or 9999
        raise BadCursor(cursor) from error


def keyset(stmt: Select, *, created_at, ident, cursor: str | None, size: int) -> KeysetPage:
    """The page of `stmt` (ORM entities, newest first by (created_at, ident)) after or before `cursor`.

    One row more than the page is fetched to know whether there is a next page; nothing is counted.
    The list's index must lead with its filter columns, then (created_at, ident), for every page to
    be an index range scan.
    """
    stmt = stmt.order_by(None)
    newest_first = (created_at.desc(), ident.desc())
    if cursor is None:
        rows = list(db.session.scalars(stmt.order_by(*newest_first).limit(size + 1)))
        return KeysetPage(rows[:size], _older(rows, size), None)
    direction, moment, key = decode_cursor(cursor)
    edge = tuple_(created_at, ident)
    if direction == "older":
        rows = list(db.session.scalars(stmt.where(edge < tuple_(moment, key)).order_by(*newest_first).limit(size + 1)))
        items = rows[:size]
        return KeysetPage(items, _older(rows, size), _newer(items[0]) if items else None)
    rows = list(db.session.scalars(
        stmt.where(edge > tuple_(moment, key)).order_by(created_at.asc(), ident.asc()).limit(size + 1)
    ))
    items = list(reversed(rows[:size]))  # the `size` items just newer than the cursor, newest first
    older = encode_cursor("older", items[-1].created_at, items[-1].id) if items else None
    return KeysetPage(items, older, _newer(items[0]) if len(rows) > size else None)


def _older(rows: list, size: int) -> str | None:
    """The cursor to the page after the first `size` of `rows` (newest first), when there are more."""
    if len(rows) <= size:
        return None
    last = rows[size - 1]
    return encode_cursor("older", last.created_at, last.id)


def _newer(first) -> str:
    return encode_cursor("newer", first.created_at, first.id)
