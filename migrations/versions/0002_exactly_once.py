"""exactly once: idempotency keys written with their effect; a health-check row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 18:00:00

A key row is now written in the transaction of the operation it guards, so it only ever holds a
finished reply and the `running` state goes. Under the old scheme the effect and its reply committed
together, so a row still `running` belongs to a request whose effect never committed: dropping it
lets a retry run that request once. The user id is no longer a foreign key (the reply to an account
deletion outlives the account), and the digest of the sending token lets that token fetch its reply
after its session ended.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM idempotency_keys WHERE state <> 'done' OR response_status IS NULL")
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_idempotency_keys_user_id_users'), type_='foreignkey')
        batch_op.drop_column('state')
        batch_op.add_column(sa.Column('session_digest', sa.String(length=64), nullable=True))
        batch_op.alter_column('response_status', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('response_body', existing_type=sa.Text(), nullable=False)
        batch_op.create_index('ix_idempotency_keys_session_digest', ['session_digest'], unique=False)

    op.create_table('health_checks',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_checks'))
    )


def downgrade():
    op.drop_table('health_checks')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_session_digest')
        batch_op.alter_column('response_body', existing_type=sa.Text(), nullable=True)
        batch_op.alter_column('response_status', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_column('session_digest')
        batch_op.add_column(sa.Column('state', sa.String(length=12), nullable=False, server_default='done'))
        batch_op.create_foreign_key(batch_op.f('fk_idempotency_keys_user_id_users'), 'users', ['user_id'], ['id'],
                                    ondelete='CASCADE')
