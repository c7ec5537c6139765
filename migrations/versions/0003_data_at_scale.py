"""data at scale: order-list indexes, the sales aggregate, 64-bit ids, trigram name search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 19:00:00

- orders: one composite index per list (all, a buyer's, a seller's), each on (filter, created_at, id),
  replacing the single-column ones, so keyset pages cost the same at any depth;
- sales_days: per seller, product and UTC day, the paid and refunded orders, units and cents, filled
  here from the orders already in the database and then kept by every buy and refund;
- 64-bit ids for orders, ledger_entries, auth_sessions and idempotency_keys on PostgreSQL (their
  sequences too); SQLite's INTEGER PRIMARY KEY is 64-bit already;
- a trigram index (pg_trgm) for the catalogue's name search on PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

GROWING = ('orders', 'ledger_entries', 'auth_sessions', 'idempotency_keys')


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_buyer_id')
        batch_op.drop_index('ix_orders_seller_id')
        batch_op.drop_index('ix_orders_created_at')
        batch_op.create_index('ix_orders_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_buyer_id_created_at_id', ['buyer_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_seller_id_created_at_id', ['seller_id', 'created_at', 'id'], unique=False)

    op.create_table('sales_days',
    sa.Column('seller_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('revenue', sa.Integer(), nullable=False),
    sa.Column('refunded_orders', sa.Integer(), nullable=False),
    sa.Column('refunded_units', sa.Integer(), nullable=False),
    sa.Column('refunded_revenue', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('seller_id', 'product_id', 'day', name=op.f('pk_sales_days'))
    )
    day = "(created_at AT TIME ZONE 'UTC')::date" if postgresql else "date(created_at)"
    paid = "CASE WHEN status = 'paid' THEN {} ELSE 0 END"
    refunded = "CASE WHEN status = 'refunded' THEN {} ELSE 0 END"
    op.execute(
        "INSERT INTO sales_days (seller_id, product_id, day, orders, units, revenue, "
        "refunded_orders, refunded_units, refunded_revenue) "
        f"SELECT seller_id, product_id, {day}, "
        f"sum({paid.format(1)}), sum({paid.format('amount')}), sum({paid.format('total_spent')}), "
        f"sum({refunded.format(1)}), sum({refunded.format('amount')}), sum({refunded.format('total_spent')}) "
        f"FROM orders WHERE seller_id IS NOT NULL GROUP BY seller_id, product_id, {day}"
    )

    if postgresql:
        for table in GROWING:
            op.alter_column(table, 'id', existing_type=sa.Integer(), type_=sa.BigInteger())
            op.execute(f'ALTER SEQUENCE {table}_id_seq AS bigint')
        op.alter_column('ledger_entries', 'order_id', existing_type=sa.Integer(), type_=sa.BigInteger(),
                        existing_nullable=True)
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_products_name_key_trgm', 'products', ['name_key'], unique=False,
                        postgresql_using='gin', postgresql_ops={'name_key': 'gin_trgm_ops'})


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    if postgresql:
        op.drop_index('ix_products_name_key_trgm', table_name='products')
        op.alter_column('ledger_entries', 'order_id', existing_type=sa.BigInteger(), type_=sa.Integer(),
                        existing_nullable=True)
        for table in GROWING:
            op.execute(f'ALTER SEQUENCE {table}_id_seq AS integer')
            op.alter_column(table, 'id', existing_type=sa.BigInteger(), type_=sa.Integer())
    op.drop_table('sales_days')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_seller_id_created_at_id')
        batch_op.drop_index('ix_orders_buyer_id_created_at_id')
        batch_op.drop_index('ix_orders_created_at_id')
        batch_op.create_index('ix_orders_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_orders_seller_id', ['seller_id'], unique=False)
        batch_op.create_index('ix_orders_buyer_id', ['buyer_id'], unique=False)
