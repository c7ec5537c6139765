"""web product: a low-stock warning level per product, a low-tube warning level per coin tube

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 19:30:00

Both are plain integers with a server default, so existing rows get the defaults (3 units, 5 coins) and
the code that inserts rows without naming them (the tubes of a fresh install) keeps working.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_stock_at', sa.Integer(), server_default=sa.text('3'), nullable=False))
        batch_op.create_check_constraint(op.f('ck_products_low_stock_at_valid'), 'low_stock_at >= 0 AND low_stock_at <= 10000')
    with op.batch_alter_table('coin_tubes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_at', sa.Integer(), server_default=sa.text('5'), nullable=False))
        batch_op.create_check_constraint(op.f('ck_coin_tubes_low_at_non_negative'), 'low_at >= 0')


def downgrade():
    with op.batch_alter_table('coin_tubes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_coin_tubes_low_at_non_negative'), type_='check')
        batch_op.drop_column('low_at')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_low_stock_at_valid'), type_='check')
        batch_op.drop_column('low_stock_at')
