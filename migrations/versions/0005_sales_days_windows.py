"""sales_days indexes for date windows: a seller's (seller_id, day) and everyone's (day)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:40:00

The primary key (seller_id, product_id, day) makes a seller's window read every day of every one of
their products; these read only the window's rows, from the index alone on PostgreSQL (the counters are
included), as measured by make bench-scale at 2 million orders.
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


COUNTERS = ['orders', 'units', 'revenue', 'refunded_orders', 'refunded_units', 'refunded_revenue']


def upgrade():
    with op.batch_alter_table('sales_days', schema=None) as batch_op:
        batch_op.create_index('ix_sales_days_seller_id_day', ['seller_id', 'day'], unique=False,
                              postgresql_include=['product_id', *COUNTERS])
        batch_op.create_index('ix_sales_days_day', ['day'], unique=False,
                              postgresql_include=['seller_id', 'product_id', *COUNTERS])


def downgrade():
    with op.batch_alter_table('sales_days', schema=None) as batch_op:
        batch_op.drop_index('ix_sales_days_day')
        batch_op.drop_index('ix_sales_days_seller_id_day')
