"""Ceiling (b'), for comparison: bench/buy_cycle.sql driven from Python with psycopg instead of pgbench.

The same statements, locks and commits as the pgbench ceiling, read from the same file, sent as
prepared statements one round trip each (like pgbench -M prepared) by the app's own driver. The
clients are shaped like the app server: PROCESSES processes (one per gunicorn worker) share CLIENTS
connections, one thread per connection. It tells how much of the gap between the app and pgbench is
the Python client and how much is the web stack on top of it.

    python bench/sql_client.py URL --buyer-base N --pmin N --pmax N --clients 16 --processes 4 --seconds 10

Prints one line: BENCHJSON {"cycles": ..., "deposits": ..., "errors": ..., "p50_us": ..., ...}.
"""

import argparse
import json
import multiprocessing
import random
import re
import threading
import time
from pathlib import Path

import psycopg

SCRIPT = Path(__file__).resolve().parent / "buy_cycle.sql"
GSET = re.compile(r"\s*\\gset\s+(\w+)\s*$")
VARIABLE = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def load_script(path: Path = SCRIPT) -> list[tuple[str, str | None]]:
    """The SQL commands of a pgbench script as (psycopg query, \\gset prefix); meta-commands are
    skipped (this client sets uid and pid itself, as the script's \\set lines do)."""
    commands = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("--") or line.startswith("\\"):
            continue
        prefix = None
        if match := GSET.search(line):
            prefix = match.group(1)
            line = line[: match.start()]
        commands.append((VARIABLE.sub(r"%(\1)s", line.rstrip().rstrip(";")), prefix))
    return commands


def client(url: str, client_id: int, args, deadline: float, out: dict, lock: threading.Lock) -> None:
    commands = load_script()
    first_commit = next(n for n, (query, _) in enumerate(commands) if query == "COMMIT")  # the coin is in
    rng = random.Random(1000 + client_id)
    cycles = deposits = errors = 0
    latencies = []
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        while time.monotonic() < deadline:
            values = {"uid": args.buyer_base + 1000 - client_id, "pid": rng.randint(args.pmin, args.pmax)}
            started = time.perf_counter()
            try:
                for n, (query, prefix) in enumerate(commands):
                    cursor.execute(query, values, prepare=True)
                    if prefix is not None:
                        row = cursor.fetchone()
                        values.update({f"{prefix}{column.name}": value
                                       for column, value in zip(cursor.description, row, strict=True)})
                    if n == first_commit:
                        deposits += 1
            except psycopg.Error:
                errors += 1
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                continue
            cycles += 1
            latencies.append(int((time.perf_counter() - started) * 1e6))
    with lock:
        out["cycles"] += cycles
        out["deposits"] += deposits
        out["errors"] += errors
        out["latencies"] += latencies


def process(url: str, client_ids: list[int], args, deadline: float, queue) -> None:
    out = {"cycles": 0, "deposits": 0, "errors": 0, "latencies": []}
    lock = threading.Lock()
    threads = [threading.Thread(target=client, args=(url, cid, args, deadline, out, lock)) for cid in client_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    for name in ("--buyer-base", "--pmin", "--pmax"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as conn:  # fail early, before the clock starts
        conn.execute("SELECT 1")
    queue = multiprocessing.Queue()
    started = time.monotonic()
    deadline = started + args.seconds
    workers = [
        multiprocessing.Process(target=process, args=(args.url, list(range(p, args.clients, args.processes)), args,
                                                      deadline, queue))
        for p in range(args.processes)
    ]
    for worker in workers:
        worker.start()
    parts = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    latencies = sorted(x for part in parts for x in part["latencies"])

    def pct(p: float) -> int:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] if latencies else 0

    print("BENCHJSON " + json.dumps({
        "cycles": sum(p["cycles"] for p in parts), "deposits": sum(p["deposits"] for p in parts),
        "errors": sum(p["errors"] for p in parts), "duration_s": elapsed,
        "p50_us": pct(50), "p99_us": pct(99), "max_us": latencies[-1] if latencies else 0,
    }))


if __name__ == "__main__":
    main()
