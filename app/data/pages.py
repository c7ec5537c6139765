"""One way to cut a list into pages: LIMIT/OFFSET of a select(), with the total from COUNT."""

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from app.extensions import db

MAX_PAGE_SIZE = 100
# Far beyond any last page; OFFSET past this would overflow the database's integer.
MAX_OFFSET = 2**62


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
