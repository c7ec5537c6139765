"""sales periods: the sales aggregate by day and by month, per product, per seller and for everyone

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:00:00

sales_periods replaces sales_days (per seller, product and UTC day). A buy or a refund adds to six rows
in one statement: its product's, its seller's (product_id 0) and everyone's (seller_id 0, product_id 0),
each for the order's day and its month, so a total over any range reads whole months and the days at its
ends. Its counters say what was bought (orders, units, gross) and what was paid back since (refunded_orders,
refunded_units, refunds), where sales_days kept the paid and the refunded apart. Filled here from the orders
(the products' days), then each coarser row from the rows it adds up.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COUNTERS = ('orders', 'units', 'gross', 'refunded_orders', 'refunded_units', 'refunds')
OLD_COUNTERS = ['orders', 'units', 'revenue', 'refunded_orders', 'refunded_units', 'refunded_revenue']


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_table('sales_periods',
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seller_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('span', sa.String(length=5), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('gross', sa.BigInteger(), nullable=False),
    sa.Column('refunded_orders', sa.Integer(), nullable=False),
    sa.Column('refunded_units', sa.BigInteger(), nullable=False),
    sa.Column('refunds', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("span IN ('day', 'month')", name=op.f('ck_sales_periods_span_valid')),
    sa.PrimaryKeyConstraint('product_id', 'seller_id', 'span', 'first_day', name=op.f('pk_sales_periods'))
    )
    with op.batch_alter_table('sales_periods', schema=None) as batch_op:
        batch_op.create_index('ix_sales_periods_seller_id_span_first_day', ['seller_id', 'span', 'first_day'],
                              unique=False)

    day = "(created_at AT TIME ZONE 'UTC')::date" if postgresql else "date(created_at)"
    month = "date_trunc('month', first_day)::date" if postgresql else "date(first_day, 'start of month')"
    columns = 'product_id, seller_id, span, first_day, ' + ', '.join(COUNTERS)
    refunded = "CASE WHEN status = 'refunded' THEN {} ELSE 0 END"
    op.execute(
        f"INSERT INTO sales_periods ({columns}) "
        f"SELECT product_id, seller_id, 'day', {day}, count(*), sum(amount), sum(total_spent), "
        f"sum({refunded.format(1)}), sum({refunded.format('amount')}), sum(refunded_amount) "
        f"FROM orders WHERE seller_id IS NOT NULL GROUP BY product_id, seller_id, {day}"
    )
    sums = ', '.join(f'sum({name})' for name in COUNTERS)
    for product, seller, span, first_day, rows in (
        ('product_id', 'seller_id', 'month', month, "span = 'day' AND product_id <> 0"),
        ('0', 'seller_id', 'day', 'first_day', "span = 'day' AND product_id <> 0"),
        ('0', 'seller_id', 'month', month, "span = 'day' AND product_id = 0 AND seller_id <> 0"),
        ('0', '0', 'day', 'first_day', "span = 'day' AND product_id = 0 AND seller_id <> 0"),
        ('0', '0', 'month', month, "span = 'day' AND product_id = 0 AND seller_id = 0"),
    ):
        op.execute(
            f"INSERT INTO sales_periods ({columns}) "
            f"SELECT {product}, {seller}, '{span}', {first_day}, {sums} FROM sales_periods WHERE {rows} "
            f"GROUP BY {', '.join(key for key in (product, seller, first_day) if key != '0')}"
        )
    op.drop_table('sales_days')


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_table('sales_days',
    sa.Column('seller_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    *(sa.Column(name, sa.Integer(), nullable=False) for name in OLD_COUNTERS),
    sa.PrimaryKeyConstraint('seller_id', 'product_id', 'day', name=op.f('pk_sales_days'))
    )
    with op.batch_alter_table('sales_days', schema=None) as batch_op:
        batch_op.create_index('ix_sales_days_seller_id_day', ['seller_id', 'day'], unique=False,
                              postgresql_include=['product_id', *OLD_COUNTERS])
        batch_op.create_index('ix_sales_days_day', ['day'], unique=False,
                              postgresql_include=['seller_id', 'product_id', *OLD_COUNTERS])
    op.execute(
        "INSERT INTO sales_days (seller_id, product_id, day, orders, units, revenue, "
        "refunded_orders, refunded_units, refunded_revenue) "
        "SELECT seller_id, product_id, first_day, orders - refunded_orders, units - refunded_units, "
        "gross - refunds, refunded_orders, refunded_units, refunds "
        "FROM sales_periods WHERE span = 'day' AND product_id <> 0"
    )
    op.drop_table('sales_periods')
