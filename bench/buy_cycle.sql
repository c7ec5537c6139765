-- Ceiling (b): the SQL a buy cycle needs, straight at PostgreSQL (pgbench -M prepared).
-- Two requests, as the app runs them: the bearer token is checked from the worker's read cache (no
-- SQL once warm), then one transaction each with the same row locks (user, product, tubes), in the
-- same order, the same writes and ledger rows.
-- pgbench clients use the last buyers (buyer_base + 1000 - client_id) so they never share a row
-- with the wrk buy scenario; escrow moves by +-1 coin so an aborted cycle cannot unbalance money.
\set uid :buyer_base + 1000 - :client_id
\set pid random(:pmin, :pmax)

-- POST /api/v1/deposit {"coin": 100}
BEGIN;
SELECT id, username, role, deposit, escrow_5, escrow_10, escrow_20, escrow_50, escrow_100 FROM users WHERE id = :uid FOR UPDATE;
INSERT INTO ledger_entries (created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) VALUES (now(), 'coin_inserted', :uid, NULL, 0, 0, 0, 0, 1, 100) RETURNING id;
UPDATE users SET deposit = deposit + 100, escrow_100 = escrow_100 + 1 WHERE id = :uid;
COMMIT;

-- POST /api/v1/buy {"productId": pid, "amount": 1}
BEGIN;
SELECT id, username, role, deposit, escrow_5, escrow_10, escrow_20, escrow_50, escrow_100 FROM users WHERE id = :uid FOR UPDATE \gset b_
SELECT p.id, p.product_name, p.cost, p.amount_available, p.seller_id, p.refundable, p.on_sale, s.username AS seller_username FROM products p LEFT OUTER JOIN users s ON s.id = p.seller_id WHERE p.id = :pid FOR UPDATE OF p \gset p_
UPDATE products SET amount_available = amount_available - 1, updated_at = now() WHERE id = :pid;
UPDATE users SET deposit = deposit - 100, escrow_100 = escrow_100 - 1 WHERE id = :uid;
SELECT coin, count FROM coin_tubes ORDER BY coin FOR UPDATE;
UPDATE coin_tubes SET count = count - 1 WHERE coin = 5;
UPDATE coin_tubes SET count = count - 1 WHERE coin = 10;
UPDATE coin_tubes SET count = count - 1 WHERE coin = 50;
UPDATE coin_tubes SET count = count + 1 WHERE coin = 100;
INSERT INTO orders (buyer_id, seller_id, product_id, buyer_username, seller_username, product_name, unit_cost, amount, total_spent, paid_in, change, status, refunded_amount, refundable, created_at) VALUES (:uid, :p_seller_id, :pid, :b_username, :p_seller_username, :p_product_name, 35, 1, 35, 100, '[50, 10, 5]', 'paid', 0, false, now()) RETURNING id \gset o_
INSERT INTO ledger_entries (created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) VALUES (now(), 'escrow_to_tubes', :uid, :o_id, 0, 0, 0, 0, 1, 100), (now(), 'change_paid', :uid, :o_id, 1, 1, 0, 1, 0, 65);
COMMIT;
