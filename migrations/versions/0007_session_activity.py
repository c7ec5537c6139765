"""auth_sessions: the client's network at login and the idle deadline

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00

A session now also ends after SESSION_IDLE_TIMEOUT_SECONDS without a request (idle_until, moved on with
last_seen_at). The sessions open at the upgrade get their expiry as idle deadline: they end when they would have,
and the rule applies from their next login; their network is unknown (NULL).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# A SQLite table rebuilt by a batch keeps its AUTOINCREMENT (migration 0006) only when told so.
KEEP_AUTOINCREMENT = {'sqlite_autoincrement': True}


def upgrade():
    with op.batch_alter_table('auth_sessions', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column('client_network', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('idle_until', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE auth_sessions SET idle_until = expires_at")
    with op.batch_alter_table('auth_sessions', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.alter_column('idle_until', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.create_index(batch_op.f('ix_auth_sessions_idle_until'), ['idle_until'], unique=False)


def downgrade():
    with op.batch_alter_table('auth_sessions', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_sessions_idle_until'))
        batch_op.drop_column('idle_until')
        batch_op.drop_column('client_network')
