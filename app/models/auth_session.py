from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.columns import NEVER_REUSED, BigId, UTCDateTime, utcnow


class AuthSession(db.Model):
    """One signed-in session, API token or browser, stored only as a SHA-256 digest."""

    __tablename__ = "auth_sessions"
    __table_args__ = (NEVER_REUSED,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The client's network at login, not its address: 203.0.113.0/24 or 2001:db8:1::/48 (app.services.sessions)
    client_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The session ends at expires_at, or earlier at idle_until: moved on with last_seen_at (at most once a minute)
    idle_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
