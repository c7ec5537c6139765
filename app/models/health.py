from datetime import datetime

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.columns import UTCDateTime, utcnow


class HealthCheck(db.Model):
    """One row that /readyz rewrites: the database proves it still accepts a committed write
    (not read-only, not out of disk), which a SELECT 1 cannot show."""

    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
