"""ids never reused on SQLite; a refunded product's stock may exceed the seller's cap

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:30:00

- SQLite: users, products, orders, ledger_entries, auth_sessions and idempotency_keys are rebuilt with
  AUTOINCREMENT, so a deleted row's id is never handed out again (a new account inherited a deleted one's
  orders, refunds, sessions and sales). Each table's counter starts past every id that any row still
  remembers (a deleted user's id survives in orders, ledger rows, idempotency keys and sales). PostgreSQL's
  sequences never go back: nothing to do there.
- products.amount_available: the cap of 10,000 is a rule for what sellers type, not for what refunds bring
  back (a seller could block refunds by filling the stock to the cap), so the CHECK keeps only >= 0.
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Each table, and the (table, column) pairs that remember its ids: its counter starts past all of them.
REMEMBERED = {
    'users': [('orders', 'buyer_id'), ('orders', 'seller_id'), ('ledger_entries', 'user_id'),
              ('idempotency_keys', 'user_id'), ('sales_days', 'seller_id'), ('products', 'seller_id'),
              ('auth_sessions', 'user_id')],
    'products': [('orders', 'product_id'), ('sales_days', 'product_id')],
    'orders': [('ledger_entries', 'order_id')],
    'ledger_entries': [],
    'auth_sessions': [],
    'idempotency_keys': [],
}


def upgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_stock_valid'), type_='check')
        batch_op.create_check_constraint('stock_valid', 'amount_available >= 0')
    if not sqlite:
        return
    for table in REMEMBERED:
        with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
            pass
    for table, remembered in REMEMBERED.items():
        # SQLite's max() of several values is the largest, NULL if any is: each one is coalesced, and 0 makes
        # it the scalar max() even for a table that only remembers its own ids.
        highest = ', '.join(f'coalesce((SELECT max({column}) FROM {other}), 0)'
                            for other, column in [(table, 'id'), *remembered])
        op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        op.execute(f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', max({highest}, 0)")


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        for table in REMEMBERED:
            with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': False}):
                pass
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_stock_valid'), type_='check')
        batch_op.create_check_constraint('stock_valid', 'amount_available >= 0 AND amount_available <= 10000')
