from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.columns import NEVER_REUSED, BigId, UTCDateTime, utcnow


class IdempotencyKey(db.Model):
    """A client's Idempotency-Key and the reply of the request that first used it.

    A row is written in the same transaction as the operation's effect, so it exists exactly when
    the effect (or the refusal) committed. `user_id` is a plain id, not a foreign key: the reply to an
    account deletion must outlive the account. `session_digest` is the SHA-256 of the token that sent
    the request, so a retry with that token finds the reply even after the session ended.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),
        Index("ix_idempotency_keys_session_digest", "session_digest"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    session_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
