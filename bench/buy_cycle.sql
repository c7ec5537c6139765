-- Ceiling (b): the SQL a buy cycle needs, straight at PostgreSQL (pgbench -M prepared).
-- Two requests, as the app runs them: each checks its bearer token in the database (one indexed join,
-- a statement of its own in autocommit), then one transaction each with the same row locks (user,
-- product, tubes, sales rows), in the same order, the same writes, sales totals and ledger rows.
-- pgbench clients use the last buyers (buyer_base + 1000 - client_id) so they never share a row
-- with the wrk buy scenario; escrow moves by +-1 coin so an aborted cycle cannot unbalance money.
-- The token check looks the session up by its user id here (pgbench cannot hash the token): the same
-- shape, one unique-index probe and a join to users.
\set uid :buyer_base + 1000 - :client_id
\set pid random(:pmin, :pmax)

-- POST /api/v1/deposit {"coin": 100}
SELECT auth_sessions.id, auth_sessions.user_id, auth_sessions.expires_at, auth_sessions.last_seen_at, users.role, users.username, users.deposit, users.created_at FROM auth_sessions JOIN users ON users.id = auth_sessions.user_id WHERE auth_sessions.user_id = :uid LIMIT 1;
BEGIN;
UPDATE users SET deposit = deposit + 100, escrow_100 = escrow_100 + 1 WHERE id = :uid AND deposit + 100 <= 10000 RETURNING deposit, escrow_5, escrow_10, escrow_20, escrow_50, escrow_100;
INSERT INTO ledger_entries (created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) VALUES (now(), 'coin_inserted', :uid, NULL, 0, 0, 0, 0, 1, 100);
COMMIT;

-- POST /api/v1/buy {"productId": pid, "amount": 1}
SELECT auth_sessions.id, auth_sessions.user_id, auth_sessions.expires_at, auth_sessions.last_seen_at, users.role, users.username, users.deposit, users.created_at FROM auth_sessions JOIN users ON users.id = auth_sessions.user_id WHERE auth_sessions.user_id = :uid LIMIT 1;
BEGIN;
SELECT id, username, deposit, escrow_5, escrow_10, escrow_20, escrow_50, escrow_100 FROM users WHERE id = :uid FOR UPDATE \gset b_
SELECT id, product_name, cost, amount_available, seller_id, refundable, on_sale, (SELECT username FROM users WHERE users.id = products.seller_id) AS seller_username FROM products WHERE id = :pid FOR UPDATE OF products \gset p_
UPDATE products SET amount_available = amount_available - 1, updated_at = now() WHERE id = :pid;
-- the app empties the escrow (SET deposit = 0, escrow_5 = 0, ...): the same statement shape, moving exactly the coin inserted
UPDATE users SET deposit = deposit - 100, escrow_5 = escrow_5 - 0, escrow_10 = escrow_10 - 0, escrow_20 = escrow_20 - 0, escrow_50 = escrow_50 - 0, escrow_100 = escrow_100 - 1 WHERE id = :uid;
SELECT coin, count FROM coin_tubes ORDER BY coin;
INSERT INTO orders (buyer_id, seller_id, product_id, buyer_username, seller_username, product_name, unit_cost, amount, total_spent, paid_in, change, status, refunded_amount, refund_change, refundable, created_at, refunded_at) VALUES (:uid, :p_seller_id, :pid, :b_username, :p_seller_username, :p_product_name, 35, 1, 35, 100, '[50, 10, 5]', 'paid', 0, NULL, false, now(), NULL) RETURNING id \gset o_
INSERT INTO ledger_entries (created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) VALUES (now(), 'escrow_to_tubes', :uid, :o_id, 0, 0, 0, 0, 1, 100), (now(), 'change_paid', :uid, :o_id, 1, 1, 0, 1, 0, 65);
-- the tube rows, which every cycle queues on, are written (and locked) last; the counts were read without a lock
UPDATE coin_tubes SET count = coin_tubes.count + CASE coin_tubes.coin WHEN 5 THEN -1 WHEN 10 THEN -1 WHEN 20 THEN 0 WHEN 50 THEN -1 WHEN 100 THEN 1 ELSE 0 END FROM (SELECT coin FROM coin_tubes ORDER BY coin FOR UPDATE) AS locked WHERE coin_tubes.coin = locked.coin AND coin_tubes.count + CASE coin_tubes.coin WHEN 5 THEN -1 WHEN 10 THEN -1 WHEN 20 THEN 0 WHEN 50 THEN -1 WHEN 100 THEN 1 ELSE 0 END >= 0;
-- then the sales rows of the product, its seller and everyone, for the day and the month: the seller's and
-- everyone's are shared by every cycle too
INSERT INTO sales_periods (product_id, seller_id, span, first_day, orders, units, gross, refunded_orders, refunded_units, refunds) VALUES (:pid, :p_seller_id, 'day', CAST(now() AT TIME ZONE 'UTC' AS date), 1, 1, 35, 0, 0, 0), (:pid, :p_seller_id, 'month', CAST(date_trunc('month', now() AT TIME ZONE 'UTC') AS date), 1, 1, 35, 0, 0, 0), (0, :p_seller_id, 'day', CAST(now() AT TIME ZONE 'UTC' AS date), 1, 1, 35, 0, 0, 0), (0, :p_seller_id, 'month', CAST(date_trunc('month', now() AT TIME ZONE 'UTC') AS date), 1, 1, 35, 0, 0, 0), (0, 0, 'day', CAST(now() AT TIME ZONE 'UTC' AS date), 1, 1, 35, 0, 0, 0), (0, 0, 'month', CAST(date_trunc('month', now() AT TIME ZONE 'UTC') AS date), 1, 1, 35, 0, 0, 0) ON CONFLICT (product_id, seller_id, span, first_day) DO UPDATE SET orders = sales_periods.orders + excluded.orders, units = sales_periods.units + excluded.units, gross = sales_periods.gross + excluded.gross, refunded_orders = sales_periods.refunded_orders + excluded.refunded_orders, refunded_units = sales_periods.refunded_units + excluded.refunded_units, refunds = sales_periods.refunds + excluded.refunds;
COMMIT;
