"""make bench-scale: does a request cost the same at 2 million orders as at 10 thousand?

For each size (small: 1,000 buyers, 200 products, 10,000 orders; large: 100,000 buyers, 20,000 products,
2,000,000 orders, one buyer with 50,000 of them and one seller with 500,000 sales) this creates a throw-away
database, migrates it with `flask db upgrade`, seeds it in SQL (INSERT ... SELECT over generate_series,
consistent with the ledger so `flask audit` is clean) and runs the app on it under gunicorn with the shipped
gunicorn_cfg.py and no read cache. Each request is timed as the median of 5 after one warm-up, one at a time,
the two sizes' servers taken in turn so that the machine's load meets both sides of a ratio; then
`flask audit` on each (time and peak RSS). bench/scale-results.md gets small, large, the ratio and
each target met or not; for a request that misses, the EXPLAIN (ANALYZE, BUFFERS) of its slowest statement.
Run from the project root: .venv/bin/python bench/scale.py (bench/README.md, "make bench-scale").
"""

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (bench/ is not a package: its helpers, loaded like bench/profile.py does)

ROOT = bench.ROOT
COINS = (5, 10, 20, 50, 100)
PASSWORD = "scale-password-1"  # noqa: S105 (throw-away seed accounts)

SIZES = {
    "small": {"buyers": 1_000, "sellers": 10, "products": 200, "orders": 10_000},
    "large": {"buyers": 100_000, "sellers": 1_000, "products": 20_000, "orders": 2_000_000},
}
HEAVY_BUYER_EVERY = 40  # one order in 40 is the heavy buyer's: 50,000 of 2,000,000 (250 of 10,000)
HEAVY_SELLER_EVERY = 4  # one in 4 is a sale of the heavy seller's: 500,000 of 2,000,000 (2,500 of 10,000)
HISTORY_DAYS = 365
INITIAL_FLOAT = 20
TUBES_AFTER = 1_000  # every tube after the operator's last visit (a tubes_set row balances the ledger)
FLAVOURS = ("Salty", "Sweet", "Spicy", "Crunchy", "Chewy", "Sour", "Smoky", "Zesty",
            "Honey", "Minty", "Nutty", "Fruity", "Cheesy", "Tangy", "Toasted", "Creamy")
ITEMS = ("Pretzel", "Cookie", "Wafer", "Chips", "Gum", "Soda", "Nuts", "Bar",
         "Crackers", "Popcorn", "Toffee", "Juice", "Muffin", "Candy", "Jerky", "Tea")
USER_AGENT = "vending-bench-scale"
SEARCH = "wafer"  # the catalogue's ?q=: one product in 16

REQUESTS_TIMED = bench.env_int("BENCH_SCALE_REQUESTS", 5)
WARM_ROUNDS = 2  # unmeasured requests of every path per gunicorn worker before anything is timed
TARGET_RATIO = 2.0  # large within 2x of small ...
TARGET_LARGE_MS = 50.0  # ... and under 50 ms at 2M orders
AUDIT_MAX_SECONDS = 20.0
AUDIT_MAX_MB = 300.0

SETTINGS = {
    "server": bench.SETTINGS["server"],
    "sizes": [s for s in os.environ.get("BENCH_SCALE_SIZES", "small,large").split(",") if s],
    "port": bench.env_int("BENCH_SCALE_PORT", 5303),
    "keep_db": os.environ.get("BENCH_KEEP_DB") == "1",
    "results": Path(os.environ.get("BENCH_SCALE_RESULTS", ROOT / "bench" / "scale-results.md")),
}

# What is timed, in the report's order.
LABELS = {
    "admin_first": "GET /api/v1/orders as admin, page 1",
    "admin_cursor": "the same, a page near the oldest end by cursor",
    "admin_page_100": "the same, `page=100` (the numbered pages' cap)",
    "buyer_first": "GET /api/v1/orders as the heavy buyer, page 1",
    "buyer_cursor": "the same, a deep page by cursor",
    "web_machine": "web `/machine` for the heavy buyer",
    "web_buyer_orders": "web `/orders` (their order list) for the heavy buyer",
    "web_seller_sales": "web `/seller/sales` for the heavy seller (it opens on the last 30 days)",
    **{f"web_seller_sales_{period}": f"the same, `?period={period}`" for period in ("today", "month", "year", "all")},
    "web_admin_orders": "web `/admin/orders` (it opens on the last 30 days)",
    **{f"web_admin_orders_{period}": f"the same, `?period={period}`" for period in ("today", "month", "year", "all")},
    "api_totals_admin": "GET /api/v1/orders/totals as admin, all time",
    "api_totals_seller": "the same as the heavy seller",
    "catalogue_search": f"catalogue `GET /api/v1/products?q={SEARCH}`",
}

FIRST_PAGE_OF = {"admin_cursor": "admin_first", "buyer_cursor": "buyer_first"}


def log(message: str) -> None:
    print(f"[bench-scale {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- report (plain functions: tests/perf/test_scale_report.py) -------------------------------------


def median_ms(samples: list[float]) -> float | None:
    return statistics.median(samples) if samples else None


def judge_request(small_ms: float | None, large_ms: float | None) -> dict:
    """A request meets its target when its large median is within TARGET_RATIO of its small one and under
    TARGET_LARGE_MS. Either figure missing: not judged (met is None)."""
    if small_ms is None or large_ms is None:
        return {"ratio": None, "met": None, "misses": []}
    ratio = large_ms / small_ms
    misses = []
    if ratio > TARGET_RATIO:
        misses.append(f"{ratio:.2f}x its small figure (> {TARGET_RATIO:g}x)")
    if large_ms >= TARGET_LARGE_MS:
        misses.append(f"{large_ms:.1f} ms (>= {TARGET_LARGE_MS:g} ms)")
    return {"ratio": ratio, "met": not misses, "misses": misses}


def judge_audit(audit: dict | None) -> dict:
    """The audit at 2M orders: clean, under AUDIT_MAX_SECONDS and under AUDIT_MAX_MB of peak RSS."""
    if not audit:
        return {"met": None, "misses": []}
    misses = []
    if not audit["clean"]:
        misses.append("not clean")
    if audit["seconds"] >= AUDIT_MAX_SECONDS:
        misses.append(f"{audit['seconds']:.1f} s (>= {AUDIT_MAX_SECONDS:g} s)")
    if audit["peak_mb"] >= AUDIT_MAX_MB:
        misses.append(f"{audit['peak_mb']:.0f} MB peak RSS (>= {AUDIT_MAX_MB:g} MB)")
    return {"met": not misses, "misses": misses}


def request_rows(timings: dict[str, dict[str, list[float]]]) -> list[dict]:
    """One row per timed request: the medians at each size, the ratio and the verdict."""
    rows = []
    for key, label in LABELS.items():
        small = median_ms(timings.get("small", {}).get(key, []))
        large = median_ms(timings.get("large", {}).get(key, []))
        rows.append({"key": key, "label": label, "small": small, "large": large, **judge_request(small, large)})
    return rows


def misses(timings: dict, audits: dict, checks: list[tuple[str, bool]]) -> list[str]:
    """Every target missed, one line each (empty: all met)."""
    found = [f"{row['label']}: {', '.join(row['misses'])}" for row in request_rows(timings) if row["met"] is False]
    audit = judge_audit(audits.get("large"))
    if audit["met"] is False:
        found.append(f"flask audit at {SIZES['large']['orders']:,} orders: {', '.join(audit['misses'])}")
    if audits.get("small") and not audits["small"]["clean"]:
        found.append("flask audit on the small database: not clean")
    found += [f"check failed: {what}" for what, ok in checks if not ok]
    return found


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _verdict(met: bool | None, why: list[str]) -> str:
    if met is None:
        return "not judged"
    return "met" if met else "**NOT met**: " + "; ".join(why)


def render(*, info: dict, timings: dict, depths: dict, audits: dict, seeding: dict, checks: list[tuple[str, bool]],
           plans: dict[str, str], loadavg_after: list[str]) -> str:
    """bench/scale-results.md."""
    s = info
    out = [
        "# make bench-scale results (bench/scale.py)", "",
        f"{s['date']}, app at commit {s.get('commit', '?')}. Machine: {s['cores']} cores ({s['cpu']}), "
        f"kernel {s['kernel']}, Python {s['python']}, "
        f"PostgreSQL {s['postgresql']}. gunicorn with the shipped gunicorn_cfg.py: {s['workers']} workers x "
        f"{s['threads']} threads ({s['worker_class']}) per size, no read cache (CACHE_VERSIONS unset). Load "
        f"average (1, 5, 15 min) before: {', '.join(s['loadavg_before'])}; when the timing began: "
        f"{', '.join(s.get('loadavg_timing', ['?'] * 3))}; after: {', '.join(loadavg_after)}.", "",
        "| size | buyers | sellers | products | orders | the heavy buyer's orders | the heavy seller's sales | "
        "ledger rows | sales_periods rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, counts in s.get("counts", {}).items():
        out.append(f"| {size} | {counts['buyers']:,} | {counts['sellers']:,} | {counts['products']:,} | "
                   f"{counts['orders']:,} | {counts['heavy_buyer_orders']:,} | {counts['heavy_seller_sales']:,} | "
                   f"{counts['ledger']:,} | {counts['sales_periods']:,} |")
    out += [
        "", f"## Requests (ms, median of {REQUESTS_TIMED} requests after one warm-up, one at a time, the two sizes "
        "in turn)", "",
        f"Target: within {TARGET_RATIO:g}x of the small figure and under {TARGET_LARGE_MS:g} ms at "
        f"{SIZES['large']['orders']:,} orders.", "",
        "| request | small | large | large/small | target |",
        "|---|---:|---:|---:|---|",
    ]
    for row in request_rows(timings):
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        out.append(f"| {row['label']} | {_ms(row['small'])} | {_ms(row['large'])} | {ratio} | "
                   f"{_verdict(row['met'], row['misses'])} |")
    out += ["", "Where the deep pages were, and what they cost next to page 1 of the same list:", ""]
    for size, notes in depths.items():
        for key, note in notes.items():
            deep = median_ms(timings.get(size, {}).get(key, []))
            first = median_ms(timings.get(size, {}).get(FIRST_PAGE_OF[key], []))
            against = f" ({deep:.1f} ms against {first:.1f} ms for page 1)" if deep and first else ""
            out.append(f"- {size}, {LABELS[FIRST_PAGE_OF[key]].split(',')[0]}: {note}{against}")
    out += ["", "Every sample (ms):", ""]
    for size, per_key in timings.items():
        for key, samples in per_key.items():
            out.append(f"- {size} {key}: " + ", ".join(f"{x:.1f}" for x in samples))
    audit_judged = judge_audit(audits.get("large"))
    out += ["", "## flask audit", "",
            f"Target at {SIZES['large']['orders']:,} orders: clean, under {AUDIT_MAX_SECONDS:g} s and under "
            f"{AUDIT_MAX_MB:g} MB peak RSS (the process's ru_maxrss, wall time of the whole command).", "",
            "| size | time (s) | peak RSS (MB) | clean |", "|---|---:|---:|---|"]
    for size, audit in audits.items():
        clean = "yes" if audit["clean"] else "NO"
        out.append(f"| {size} | {audit['seconds']:.1f} | {audit['peak_mb']:.0f} | {clean} |")
    out += ["", f"Audit target: {_verdict(audit_judged['met'], audit_judged['misses'])}.", ""]
    for size, audit in audits.items():
        out += [f"`flask audit` on the {size} database:", "", "```", audit["text"], "```", ""]
    out += ["## Checks", ""]
    out += [f"- {what}: {'yes' if ok else '**NO**'}" for what, ok in checks]
    out += ["", "## Seeding (s, SQL on the server: INSERT ... SELECT over generate_series)", "",
            "| step | " + " | ".join(seeding) + " |", "|---|" + "---:|" * len(seeding)]
    steps = list(dict.fromkeys(step for times in seeding.values() for step in times))
    for step in steps:
        out.append(f"| {step} | " + " | ".join(
            f"{times[step]:.1f}" if step in times else "" for times in seeding.values()) + " |")
    found = misses(timings, audits, checks)
    if plans:
        out += ["", "## Plans of the requests that missed", "",
                "The request replayed in-process with the same session, every SELECT it sent run again under "
                "EXPLAIN (ANALYZE, BUFFERS); the slowest one's plan:", ""]
        for key, plan in plans.items():
            out += [f"### {LABELS.get(key, key)}", "", "```", plan, "```", ""]
    out += ["", "## Verdict", ""]
    out += ["Every target met."] if not found else [f"{len(found)} target(s) missed:", ""] + [f"- {m}" for m in found]
    return "\n".join(out) + "\n"


# --- seeding --------------------------------------------------------------------------------------


def change_coins(cents: int) -> dict[int, int]:
    """The fewest coins of 5-50 cents for `cents` (< 100): greedy, which is exact for these coins."""
    coins = {}
    for coin in (50, 20, 10, 5):
        coins[coin], cents = divmod(cents, coin)
    return coins


def seed(conn, size: str, password_hash: str) -> dict:
    """Fill a migrated, empty database in SQL. Returns the seconds per step and the ids the timings need.

    Users: 1 the operator, then the sellers (the first is the heavy one), then the buyers (the first is the
    heavy one). Order g (1..N) is the heavy buyer's when g % 40 = 0 and a sale of the heavy seller's products
    when g % 4 = 1; the others spread over every other buyer and product. Each order: paid in whole euros
    as 100-cent coins, the change in the fewest 5-50 cent coins; refundable products' orders with g % 10 = 3
    are refunded (all of it, back in 100s and the same small coins). Its ledger rows: coin_inserted (escrow
    left at zero), escrow_to_tubes, change_paid (if any), refund_paid (if refunded). The tubes start with the
    float and end at TUBES_AFTER each through one operator's tubes_set row.
    """
    n = SIZES[size]
    buyers, sellers, products, orders = n["buyers"], n["sellers"], n["products"], n["orders"]
    heavy_products = max(10, products // 100)  # the heavy seller's products
    first_buyer = sellers + 2
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=HISTORY_DAYS)
    step = (HISTORY_DAYS * 86400 - 3600) / orders  # seconds between two orders: the last an hour ago
    times: dict[str, float] = {}

    def timed(name: str, sql: str, params: dict | None = None) -> None:
        began = time.perf_counter()
        conn.execute(sql, params)
        times[name] = times.get(name, 0.0) + time.perf_counter() - began

    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET maintenance_work_mem = '1GB'")
    # Indexes are built once after the load instead of row by row (the definitions the migration made).
    began = time.perf_counter()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
        "AND i.tablename IN ('orders', 'ledger_entries', 'sales_periods') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    times["drop order and ledger indexes"] = time.perf_counter() - began

    account = "0, 0, 0, 0, 0, 0, %(at)s"
    timed("users", f"""
        INSERT INTO users (id, username, username_key, password_hash, role, deposit,
                           escrow_5, escrow_10, escrow_20, escrow_50, escrow_100, created_at)
        SELECT 1, 'scaleadmin', 'scaleadmin', %(hash)s, 'admin', {account}
        UNION ALL
        SELECT 1 + i, 'seller' || lpad(i::text, 5, '0'), 'seller' || lpad(i::text, 5, '0'), %(hash)s, 'seller',
               {account}
        FROM generate_series(1, {sellers}) i
        UNION ALL
        SELECT {first_buyer - 1} + i, 'buyer' || lpad(i::text, 6, '0'), 'buyer' || lpad(i::text, 6, '0'), %(hash)s,
               'buyer', {account}
        FROM generate_series(1, {buyers}) i""", {"hash": password_hash, "at": start - timedelta(days=30)})

    flavours = "ARRAY[" + ", ".join(f"'{x}'" for x in FLAVOURS) + "]"
    items = "ARRAY[" + ", ".join(f"'{x}'" for x in ITEMS) + "]"
    timed("products", f"""
        INSERT INTO products (id, product_name, name_key, cost, amount_available, units_stocked, seller_id,
                              refundable, on_sale, image_version, created_at, updated_at)
        SELECT p, name, lower(name), 5 * (7 + (p * 17) %% 54), stock, stock,
               CASE WHEN p <= {heavy_products} THEN 2 ELSE 3 + p %% {sellers - 1} END,
               p %% 4 = 0, true, 0, %(at)s, %(at)s
        FROM (SELECT p, ({flavours})[1 + p %% 16] || ' ' || ({items})[1 + (p / 16) %% 16] || ' '
                        || lpad(p::text, 5, '0') AS name,
                     CASE WHEN p %% 10 = 7 THEN 0 ELSE 20 + (p * 13) %% 500 END AS stock
              FROM generate_series(1, {products}) p) AS named""", {"at": start - timedelta(days=10)})

    conn.execute("CREATE TEMP TABLE scale_coins (cents int PRIMARY KEY, c5 int, c10 int, c20 int, c50 int, "
                 "coins int[]) ON COMMIT PRESERVE ROWS")
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO scale_coins VALUES (%s, %s, %s, %s, %s, %s)",
            [(cents, c[5], c[10], c[20], c[50], [coin for coin in (50, 20, 10, 5) for _ in range(c[coin])])
             for cents in range(0, 100, 5) for c in [change_coins(cents)]])

    timed("orders", f"""
        WITH o AS (
            SELECT g,
                   CASE WHEN g %% {HEAVY_BUYER_EVERY} = 0 THEN {first_buyer}
                        ELSE {first_buyer + 1} + (g * 7919) %% {buyers - 1} END AS buyer_id,
                   CASE WHEN g %% {HEAVY_SELLER_EVERY} = 1 THEN 1 + ((g / {HEAVY_SELLER_EVERY}) * 7) %% {heavy_products}
                        ELSE {heavy_products + 1} + (g * 7907) %% {products - heavy_products} END AS product_id,
                   (1 + g %% 3)::int AS amount,
                   %(start)s::timestamptz + make_interval(secs => g * %(step)s::float8) AS created_at
            FROM generate_series(1::bigint, {orders}::bigint) g
        ), priced AS (
            SELECT o.*, p.seller_id, p.product_name, p.cost, p.refundable, p.cost * o.amount AS total,
                   ((p.cost * o.amount + 99) / 100) * 100 AS paid_in, p.refundable AND o.g %% 10 = 3 AS refunded
            FROM o JOIN products p ON p.id = o.product_id
        )
        INSERT INTO orders (id, buyer_id, seller_id, product_id, buyer_username, seller_username, product_name,
                            unit_cost, amount, total_spent, paid_in, change, status, refunded_amount, refund_change,
                            refundable, created_at, refunded_at)
        SELECT x.g, x.buyer_id, x.seller_id, x.product_id, b.username, s.username, x.product_name,
               x.cost, x.amount, x.total, x.paid_in, to_json(ch.coins),
               CASE WHEN x.refunded THEN 'refunded' ELSE 'paid' END,
               CASE WHEN x.refunded THEN x.total ELSE 0 END,
               CASE WHEN x.refunded THEN to_json(array_fill(100, ARRAY[x.total / 100]) || rc.coins) END,
               x.refundable, x.created_at,
               CASE WHEN x.refunded THEN x.created_at + interval '2 minutes' END
        FROM priced x
        JOIN users b ON b.id = x.buyer_id
        JOIN users s ON s.id = x.seller_id
        JOIN scale_coins ch ON ch.cents = x.paid_in - x.total
        LEFT JOIN scale_coins rc ON x.refunded AND rc.cents = x.total %% 100
        ORDER BY x.g""", {"start": start, "step": step})

    # Order g's rows are ids 1 + 4(g - 1) + slot (slot 1-4), after the float (id 1); the operator's last
    # tubes_set comes after all of them.
    timed("ledger", """
        INSERT INTO ledger_entries (id, created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents)
        SELECT 1 + 4 * (o.id - 1) + v.slot, v.at, v.kind, o.buyer_id, v.order_id,
               v.c5, v.c10, v.c20, v.c50, v.c100, v.cents
        FROM orders o
        JOIN scale_coins ch ON ch.cents = o.paid_in - o.total_spent
        LEFT JOIN scale_coins rc ON o.status = 'refunded' AND rc.cents = o.total_spent % 100
        CROSS JOIN LATERAL (VALUES
            (1, 'coin_inserted', o.created_at - interval '10 seconds', NULL::bigint, 0, 0, 0, 0, o.paid_in / 100,
             o.paid_in),
            (2, 'escrow_to_tubes', o.created_at, o.id, 0, 0, 0, 0, o.paid_in / 100, o.paid_in),
            (3, 'change_paid', o.created_at, o.id, ch.c5, ch.c10, ch.c20, ch.c50, 0, o.paid_in - o.total_spent),
            (4, 'refund_paid', o.refunded_at, o.id, rc.c5, rc.c10, rc.c20, rc.c50, o.total_spent / 100,
             o.total_spent)
        ) AS v(slot, kind, at, order_id, c5, c10, c20, c50, c100, cents)
        WHERE v.slot <= 2 OR (v.slot = 3 AND o.paid_in > o.total_spent) OR (v.slot = 4 AND o.status = 'refunded')""")

    began = time.perf_counter()
    conn.execute(
        "INSERT INTO ledger_entries (id, created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) "
        "VALUES (1, %(at)s, 'float_loaded', NULL, NULL, %(f)s, %(f)s, %(f)s, %(f)s, %(f)s, %(cents)s)",
        {"at": start - timedelta(days=1), "f": INITIAL_FLOAT, "cents": INITIAL_FLOAT * sum(COINS)})
    sign = ("CASE kind WHEN 'float_loaded' THEN 1 WHEN 'tubes_set' THEN 1 WHEN 'escrow_to_tubes' THEN 1 "
            "WHEN 'change_paid' THEN -1 WHEN 'refund_paid' THEN -1 ELSE 0 END")
    held = conn.execute("SELECT " + ", ".join(f"coalesce(sum(c{c} * {sign}), 0)" for c in COINS)
                        + " FROM ledger_entries").fetchone()
    delta = {coin: TUBES_AFTER - int(count) for coin, count in zip(COINS, held, strict=True)}
    conn.execute(
        "INSERT INTO ledger_entries (id, created_at, kind, user_id, order_id, c5, c10, c20, c50, c100, cents) "
        "VALUES (%(id)s, %(at)s, 'tubes_set', 1, NULL, %(d5)s, %(d10)s, %(d20)s, %(d50)s, %(d100)s, %(cents)s)",
        {"id": 4 * orders + 2, "at": now - timedelta(minutes=30), "cents": sum(c * d for c, d in delta.items()),
         **{f"d{c}": d for c, d in delta.items()}})
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO coin_tubes (coin, count) VALUES (%s, %s)", [(c, TUBES_AFTER) for c in COINS])
    times["tubes"] = time.perf_counter() - began

    # Every level of the aggregate (a product's, a seller's and everyone's days and months), from the products'
    # days, inserted in the order the buys would have created the rows (a row is made by the first sale of its
    # product, seller or anyone in its day or month, the six of a sale in the buy's order), so a day's rows sit
    # together in the table as they do on a live machine.
    counters = "orders, units, gross, refunded_orders, refunded_units, refunds"
    sums = "min(first_order), " + ", ".join(f"sum({name})" for name in counters.split(", "))
    month = "date_trunc('month', day)::date"
    timed("sales_periods", """
        CREATE TEMP TABLE scale_days AS
        SELECT product_id, seller_id, (created_at AT TIME ZONE 'UTC')::date AS day, min(id) AS first_order,
               count(*) AS orders, sum(amount) AS units, sum(total_spent) AS gross,
               count(*) FILTER (WHERE status = 'refunded') AS refunded_orders,
               coalesce(sum(amount) FILTER (WHERE status = 'refunded'), 0) AS refunded_units,
               sum(refunded_amount) AS refunds
        FROM orders WHERE seller_id IS NOT NULL
        GROUP BY seller_id, product_id, (created_at AT TIME ZONE 'UTC')::date""")
    timed("sales_periods", f"""
        INSERT INTO sales_periods (product_id, seller_id, span, first_day, {counters})
        SELECT product_id, seller_id, span, first_day, {counters} FROM (
            SELECT 1 AS level, product_id, seller_id, 'day' AS span, day AS first_day, first_order, {counters}
            FROM scale_days
            UNION ALL SELECT 2, product_id, seller_id, 'month', {month}, {sums} FROM scale_days
            GROUP BY product_id, seller_id, {month}
            UNION ALL SELECT 3, 0, seller_id, 'day', day, {sums} FROM scale_days GROUP BY seller_id, day
            UNION ALL SELECT 4, 0, seller_id, 'month', {month}, {sums} FROM scale_days GROUP BY seller_id, {month}
            UNION ALL SELECT 5, 0, 0, 'day', day, {sums} FROM scale_days GROUP BY day
            UNION ALL SELECT 6, 0, 0, 'month', {month}, {sums} FROM scale_days GROUP BY {month}
        ) AS levels(level, product_id, seller_id, span, first_day, first_order, {counters})
        ORDER BY first_order, level""")
    conn.execute("DROP TABLE scale_days")
    timed("stock", """
        UPDATE products p SET units_stocked = p.amount_available + sold.units, updated_at = %(at)s
        FROM (SELECT product_id, sum(amount) FILTER (WHERE status = 'paid') AS units
              FROM orders GROUP BY product_id) AS sold
        WHERE sold.product_id = p.id AND sold.units IS NOT NULL""", {"at": now - timedelta(hours=1)})

    began = time.perf_counter()
    for table in ("users", "products", "orders", "ledger_entries"):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    times["sequences"] = time.perf_counter() - began
    began = time.perf_counter()
    for _, definition in indexes:
        conn.execute(definition)
    times["rebuild indexes"] = time.perf_counter() - began
    # This server runs with autovacuum off (CI): without statistics and a visibility map every plan would be
    # a guess. A production server's autovacuum does the same after a load like this one.
    began = time.perf_counter()
    conn.execute("VACUUM (ANALYZE)")
    times["vacuum analyze"] = time.perf_counter() - began
    times["total"] = sum(times.values())

    counts = dict(zip(("ledger", "sales_periods", "heavy_buyer_orders", "heavy_seller_sales"), conn.execute(
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM sales_periods), "
        "(SELECT count(*) FROM orders WHERE buyer_id = %(b)s), (SELECT count(*) FROM orders WHERE seller_id = 2)",
        {"b": first_buyer}).fetchone(), strict=True))
    return {
        "times": times,
        "counts": {**n, **counts},
        "admin": "scaleadmin",
        "heavy_buyer": "buyer000001",
        "heavy_seller": "seller00001",
    }


# --- requests -------------------------------------------------------------------------------------


class Client:
    """One signed-in HTTP client (a real socket per request, like a browser without keep-alive)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.headers = {"User-Agent": USER_AGENT, **({"Authorization": f"Bearer {token}"} if token else {})}
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def send(self, path: str, data: bytes | None = None, content_type: str | None = None):
        """(milliseconds, status, body, headers, final URL); the time covers sending the request and reading
        the whole reply."""
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        request = urllib.request.Request(self.base + path, data=data, headers=headers)  # noqa: S310 (127.0.0.1)
        began = time.perf_counter()
        try:
            with self.opener.open(request, timeout=120) as response:
                body, status, headers, url = response.read(), response.status, dict(response.headers), response.url
        except urllib.error.HTTPError as error:
            body, status, headers, url = error.read(), error.code, dict(error.headers), error.url
        return (time.perf_counter() - began) * 1000, status, body, headers, url

    def get(self, path: str) -> tuple[float, bytes, dict]:
        """(milliseconds, body, headers) of a 200 that was not redirected."""
        elapsed, status, body, headers, url = self.send(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}: {body[:300]!r}")
        if urllib.parse.urlsplit(url).path != urllib.parse.urlsplit(self.base + path).path:
            raise RuntimeError(f"GET {path} was redirected to {url}")
        return elapsed, body, headers


def api_login(base: str, username: str) -> str:
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    _, status, reply, _, _ = Client(base).send("/api/v1/auth/login", body, "application/json")
    if status != 200:
        raise RuntimeError(f"API login of {username}: {status} {reply[:300]!r}")
    return json.loads(reply)["token"]


def web_login(base: str, username: str) -> Client:
    """Log in through the web form, with its CSRF token, as a browser does."""
    client = Client(base)
    _, page, _ = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.decode())
    fields = {"username": username, "password": PASSWORD, "next": ""}
    if token:
        fields["csrf_token"] = token.group(1)
    _, status, _, _, landed = client.send("/login", urllib.parse.urlencode(fields).encode(),
                                          "application/x-www-form-urlencoded")
    if status != 200 or urllib.parse.urlsplit(landed).path == "/login":
        raise RuntimeError(f"web login of {username} failed ({status}, at {landed})")
    return client


def next_link(headers: dict) -> str | None:
    """The path of the Link header's rel="next"."""
    found = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link", ""))
    return found.group(1) if found else None


def with_page_size(path: str, size: int) -> str:
    parts = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["page_size"] = str(size)
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def sample(client: Client, path: str) -> list[float]:
    """One warm-up request, then REQUESTS_TIMED timed ones, one at a time."""
    client.get(path)
    return [client.get(path)[0] for _ in range(REQUESTS_TIMED)]


def depth_of(conn, first_item: dict, where: str = "TRUE", params: dict | None = None) -> int:
    """How many orders of the list come before this page (newer than its first item)."""
    return conn.execute(
        f"SELECT count(*) FROM orders WHERE {where} AND (created_at, id) > "
        "(SELECT created_at, id FROM orders WHERE id = %(id)s)", {**(params or {}), "id": first_item["id"]}
    ).fetchone()[0]


def prepare(base: str, conn, seeded: dict) -> dict:
    """Sign in, find every path to time (the deep pages by following rel="next"), note where the deep
    pages are and check the numbered pages' cap. Returns the sessions, paths, depths and checks."""
    admin = Client(base, api_login(base, seeded["admin"]))
    buyer = Client(base, api_login(base, seeded["heavy_buyer"]))
    seller = Client(base, api_login(base, seeded["heavy_seller"]))
    anonymous = Client(base)
    web = {f"web:{who}": web_login(base, seeded[who]) for who in ("heavy_buyer", "heavy_seller", "admin")}
    sessions = {"admin": admin, "heavy_buyer": buyer, "heavy_seller": seller, "anonymous": anonymous, **web}
    depths: dict[str, str] = {}
    paths = {"admin_first": ("admin", "/api/v1/orders")}

    # The first UTC day that, with the days before it, holds 41 orders: its list has a second page.
    oldest_day = conn.execute("SELECT (created_at AT TIME ZONE 'UTC')::date FROM orders "
                              "ORDER BY created_at, id OFFSET 40 LIMIT 1").fetchone()[0]
    _, _, headers = admin.get(f"/api/v1/orders?until={oldest_day.isoformat()}&page_size=20")
    deep = next_link(headers)
    if deep is None:
        raise RuntimeError("the oldest days' first page has no rel=next link")
    paths["admin_cursor"] = ("admin", deep)
    first = json.loads(admin.get(deep)[1])[0]
    depths["admin_cursor"] = (f"rel=\"next\" of `?until={oldest_day}` (one of the oldest days), followed as given: "
                              f"{depth_of(conn, first):,} orders newer than the page")
    paths["admin_page_100"] = ("admin", "/api/v1/orders?page=100")
    checks = [("`page=101` is refused with 422", admin.send("/api/v1/orders?page=101")[1] == 422)]

    paths["buyer_first"] = ("heavy_buyer", "/api/v1/orders")
    heavy_orders = seeded["counts"]["heavy_buyer_orders"]
    walk_to = min(20_000, heavy_orders * 4 // 5 // 100 * 100)  # about 1,000 pages of 20 at 2M orders
    path, walked = "/api/v1/orders?page_size=100", 0
    while walked < walk_to:
        _, body, headers = buyer.get(path)
        walked += len(json.loads(body))
        path = next_link(headers)
        if path is None:
            raise RuntimeError(f"the heavy buyer's list ended after {walked} orders")
    deep = with_page_size(path, 20)
    paths["buyer_cursor"] = ("heavy_buyer", deep)
    first = json.loads(buyer.get(deep)[1])[0]
    depths["buyer_cursor"] = (f"walked with page_size=100 to {walked:,} deep (rel=\"next\" each time), then "
                              f"page_size=20: {depth_of(conn, first, 'buyer_id = %(b)s', {'b': first['buyerId']}):,} "
                              f"of the buyer's {heavy_orders:,} orders newer than the page")

    paths["web_machine"] = ("web:heavy_buyer", "/machine")
    paths["web_buyer_orders"] = ("web:heavy_buyer", "/orders")
    for page, who in (("seller_sales", "heavy_seller"), ("admin_orders", "admin")):
        path = "/" + page.replace("_", "/", 1)
        paths[f"web_{page}"] = (f"web:{who}", path)
        for period in ("today", "month", "year", "all"):
            paths[f"web_{page}_{period}"] = (f"web:{who}", f"{path}?period={period}")
    paths["api_totals_admin"] = ("admin", "/api/v1/orders/totals")
    paths["api_totals_seller"] = ("heavy_seller", "/api/v1/orders/totals")
    paths["catalogue_search"] = ("anonymous", f"/api/v1/products?q={SEARCH}")
    assert list(paths) == list(LABELS)

    return {"sessions": sessions, "paths": paths, "depths": depths, "checks": checks}


def time_interleaved(prepared: dict[str, dict]) -> dict[str, dict[str, list[float]]]:
    """Every gunicorn worker of every size warmed on all its paths first (WARM_ROUNDS x workers unmeasured
    requests of each: the kernel picks the worker, and a worker's first request of a route pays for imports,
    templates and a pooled connection, the same at any size). Then per request: one warm-up at each size,
    and REQUESTS_TIMED timed requests at each size taken in turn (small, large, small, ...), one at a time,
    so a change in the machine's load meets both sides of the ratio."""
    for p in prepared.values():
        for _ in range(WARM_ROUNDS * bench.SETTINGS["workers"]):
            for who, path in p["paths"].values():
                p["sessions"][who].get(path)
    timings: dict[str, dict[str, list[float]]] = {size: {} for size in prepared}
    for key in LABELS:
        for p in prepared.values():
            who, path = p["paths"][key]
            p["sessions"][who].get(path)
        for _ in range(REQUESTS_TIMED):
            for size, p in prepared.items():
                who, path = p["paths"][key]
                timings[size].setdefault(key, []).append(p["sessions"][who].get(path)[0])
        log(f"  {key}: " + ", ".join(f"{size} {statistics.median(t[key]):.1f} ms" for size, t in timings.items()))
    return timings


# --- audit and plans ------------------------------------------------------------------------------


def run_audit(env: dict) -> dict:
    """`flask audit` as a child process: wall time, its own peak RSS (wait4's ru_maxrss) and its report."""
    began = time.perf_counter()
    proc = subprocess.Popen([str(bench.VENV_BIN / "flask"), "audit"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "clean": proc.returncode == 0,
            "text": output.strip()}


def shorten(sql: str, width: int) -> str:
    flat = re.sub(r"\s+", " ", sql).strip()
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def slowest_plans(env: dict, database_url: str, wanted: dict[str, tuple[str, str]], sessions: dict) -> dict[str, str]:
    """For each request (key -> (who, path)): replay it in-process with the same token or session cookie,
    run every SELECT it sent again under EXPLAIN (ANALYZE, BUFFERS), and keep the slowest one's plan."""
    import psycopg

    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event

    import config
    from app import create_app
    from app.extensions import db

    app = create_app(config.ProductionConfig())
    with app.app_context():
        engine = db.engine
    plans = {}
    for key, (who, path) in wanted.items():
        session = sessions[who]
        client = app.test_client()
        for cookie in session.jar:
            client.set_cookie(cookie.name, cookie.value)
        sent: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany, sent=sent):
            sent.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = client.get(path, headers=session.headers)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        if response.status_code != 200:
            plans[key] = f"(replayed in-process: {response.status_code}, no plan)"
            continue
        explained = []
        with psycopg.connect(bench.libpq_url(database_url), cursor_factory=psycopg.ClientCursor) as conn:
            for statement, parameters in sent:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                lines = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
                took = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Execution Time")), 0.0)
                explained.append((took, conn.cursor().mogrify(statement, parameters), lines))
        if not explained:
            plans[key] = "(no SELECT sent)"
            continue
        took, statement, lines = max(explained, key=lambda item: item[0])
        total = sum(item[0] for item in explained)
        plans[key] = "\n".join([
            f"{len(explained)} SELECTs, {total:.1f} ms of execution in all:",
            *(f"  {ms:7.1f} ms  {shorten(sql, 150)}" for ms, sql, _ in explained), "",
            f"The slowest, {took:.1f} ms:", shorten(statement, 1500), "", *lines[:45],
            *(["..."] if len(lines) > 45 else []),
        ])
    with app.app_context():
        db.engine.dispose()
    return plans


# --- main -------------------------------------------------------------------------------------------


def shipped_settings() -> dict:
    return {"workers": bench.SETTINGS["workers"], "threads": bench.SETTINGS["threads"],
            "worker_class": bench.SETTINGS["worker_class"]}


def measured_commit() -> str:
    """The commit the app servers run, and whether the app's files differ from it in the working tree."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()

    changed = git("status", "--porcelain", "--", "app", "migrations", "config.py", "gunicorn_cfg.py", "run.py")
    return git("rev-parse", "--short", "HEAD") + (" with uncommitted changes to the app" if changed else "")


def create_and_seed(size: str, name: str, password_hash: str) -> dict:
    """A new database for `size`, migrated and seeded; its URL, the app's environment and the seed."""
    import psycopg

    database_url = SETTINGS["server"].rstrip("/") + "/" + name
    env = bench.app_env(database_url)
    env.pop("CACHE_VERSIONS", None)  # no read cache: every request reads the database
    bench.admin_execute(SETTINGS["server"], f'CREATE DATABASE "{name}"')
    subprocess.run([str(bench.VENV_BIN / "flask"), "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    log(f"{size}: {name} migrated; seeding {SIZES[size]['orders']:,} orders")
    with psycopg.connect(bench.libpq_url(database_url), autocommit=True) as conn:
        seeded = seed(conn, size, password_hash)
    log(f"{size}: seeded in {seeded['times']['total']:.1f} s: "
        + ", ".join(f"{k} {v:.1f}" for k, v in seeded["times"].items() if k != "total"))
    return {"url": database_url, "env": env, "seeded": seeded}


def missed_at_large(timings: dict) -> list[str]:
    """The requests whose large figure misses a target (judged on the absolute limit alone without a small
    figure)."""
    small = {key: median_ms(samples) for key, samples in timings.get("small", {}).items()}
    found = []
    for key, samples in timings.get("large", {}).items():
        large = median_ms(samples)
        if judge_request(small.get(key), large)["met"] is False or (key not in small and large >= TARGET_LARGE_MS):
            found.append(key)
    return found


def main() -> int:
    import psycopg
    from argon2 import PasswordHasher

    s = SETTINGS
    unknown = [size for size in s["sizes"] if size not in SIZES]
    if unknown:
        sys.exit(f"BENCH_SCALE_SIZES: unknown size {unknown[0]!r} (small, large)")
    # One real argon2id hash (production cost) shared by every seed account, like make bench.
    password_hash = PasswordHasher().hash(PASSWORD)
    tag = secrets.token_hex(4)
    info = {**bench.machine_info(s["server"].rstrip("/") + "/postgres"), **shipped_settings(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": measured_commit()}
    log(f"machine {info}")
    workdir = Path(tempfile.mkdtemp(prefix="vending-scale-"))
    names = {size: f"vending_scale_{tag}_{size}" for size in s["sizes"]}
    dbs: dict[str, dict] = {}
    try:
        for size in s["sizes"]:
            dbs[size] = create_and_seed(size, names[size], password_hash)
        servers, prepared = {}, {}
        try:
            for offset, size in enumerate(s["sizes"]):
                port = s["port"] + offset
                servers[size] = bench.gunicorn("prod_wsgi:app", port, dbs[size]["env"], workdir, f"app-{size}")
                with psycopg.connect(bench.libpq_url(dbs[size]["url"])) as conn:
                    prepared[size] = prepare(f"http://127.0.0.1:{port}", conn, dbs[size]["seeded"])
            info["loadavg_timing"] = Path("/proc/loadavg").read_text().split()[:3]
            log(f"timing, {REQUESTS_TIMED} of each request at each size in turn")
            timings = time_interleaved(prepared)
        finally:
            for server in servers.values():
                bench.stop(server)
        plans = {}
        missed = missed_at_large(timings)
        if missed:
            log(f"large: explaining the slowest statement of {', '.join(missed)}")
            plans = slowest_plans(dbs["large"]["env"], dbs["large"]["url"],
                                  {key: prepared["large"]["paths"][key] for key in missed},
                                  prepared["large"]["sessions"])
        audits = {}
        for size in s["sizes"]:
            log(f"{size}: flask audit")
            audits[size] = run_audit(dbs[size]["env"])
            log(f"{size}: audit {'clean' if audits[size]['clean'] else 'FAILED'} in {audits[size]['seconds']:.1f} s, "
                f"peak RSS {audits[size]['peak_mb']:.0f} MB")
    finally:
        for name in names.values():
            if s["keep_db"]:
                log(f"kept database {name}")
            else:
                bench.admin_execute(s["server"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    info["counts"] = {size: db["seeded"]["counts"] for size, db in dbs.items()}
    checks = [(f"{what} ({size})", ok) for size, p in prepared.items() for what, ok in p["checks"]]
    report = render(info=info, timings=timings, depths={size: p["depths"] for size, p in prepared.items()},
                    audits=audits, seeding={size: db["seeded"]["times"] for size, db in dbs.items()}, checks=checks,
                    plans=plans, loadavg_after=Path("/proc/loadavg").read_text().split()[:3])
    s["results"].write_text(report)
    print(report)
    log(f"written {s['results']}")
    return 0 if not misses(timings, audits, checks) else 1


if __name__ == "__main__":
    sys.exit(main())
