"""make bench: the app under gunicorn on a throw-away PostgreSQL database, side by side with its ceilings.

Steps: create the database, migrate, seed (1,000 buyers with tokens, 50 sellers, 200 products, full
tubes), then BENCH_RUNS rounds of: bare-Flask ceiling (scenarios 1 and 2), the app (catalogue,
signed-in read, buy cycle, login), the raw-SQL buy-cycle ceiling (pgbench; and the same SQL sent by
psycopg, for comparison). Medians go to bench/results.md; the audit and a per-coin money balance are
checked on the database afterwards.
Run from the project root: .venv/bin/python bench/bench.py
"""

import json
import os
import platform
import runpy
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
COINS = (5, 10, 20, 50, 100)
PASSWORD = "bench-password-1"  # noqa: S105 (throw-away seed accounts)
TUBE_FILL = 100_000
STOCK = 10_000


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


SETTINGS = {
    "server": os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"),
    "concurrency": env_int("BENCH_CONCURRENCY", 16),
    "seconds": env_int("BENCH_SECONDS", 10),
    "warmup": env_int("BENCH_WARMUP", 15),
    "runs": env_int("BENCH_RUNS", 3),
    "port": env_int("BENCH_PORT", 5301),
    "ceiling_port": env_int("BENCH_CEILING_PORT", 5302),
    "scenarios": os.environ.get("BENCH_SCENARIOS", "catalogue,me,buy,login").split(","),
    "keep_db": os.environ.get("BENCH_KEEP_DB") == "1",
    "results": Path(os.environ.get("BENCH_RESULTS", BENCH / "results.md")),
}


def shipped_gunicorn() -> dict:
    """The server settings users run: gunicorn_cfg.py as it reads this environment (no GUNICORN_* of the
    caller's: the bench measures the shipped defaults)."""
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("GUNICORN_")}
    try:
        cfg = runpy.run_path(str(ROOT / "gunicorn_cfg.py"))
    finally:
        os.environ.update(saved)
    return {"workers": cfg["workers"], "threads": cfg["threads"], "worker_class": cfg["worker_class"]}


SETTINGS.update(shipped_gunicorn())


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- database -----------------------------------------------------------------------------------


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def admin_execute(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(libpq_url(server_url.rstrip("/") + "/postgres"), autocommit=True) as conn:
        conn.execute(sql)


def app_env(database_url: str, versions_file: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if versions_file is not None:
        env["CACHE_VERSIONS"] = f"file://{versions_file}"
    env.update(
        FLASK_APP="run.py",
        DATABASE_URL=database_url,
        SECRET_KEY=env.get("BENCH_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_SECURE="0",
        RATELIMIT_ENABLED="0",
        FLASK_DEBUG="0",
    )
    return env


def seed(database_url: str, workdir: Path) -> dict:
    """Insert the accounts, tokens and products directly; the tubes go through the service (ledger)."""
    os.environ.update(app_env(database_url))
    sys.path.insert(0, str(ROOT))
    from argon2 import PasswordHasher
    from sqlalchemy import insert, select

    import config
    from app import create_app
    from app.extensions import db
    from app.models import AuthSession, Product, User
    from app.services import machine
    from app.services.policy import Actor
    from app.services.sessions import TOKEN_PREFIX, hash_token

    app = create_app(config.ProductionConfig())
    # One real argon2id hash (production cost) shared by every seed account: seeding stays fast,
    # and a login still pays the full verification cost.
    password_hash = PasswordHasher().hash(PASSWORD)
    now = datetime.now(UTC)
    with app.app_context():

        def account(name: str, role: str) -> dict:
            return {"username": name, "username_key": name, "password_hash": password_hash, "role": role,
                    "deposit": 0, **{f"escrow_{c}": 0 for c in COINS}, "created_at": now}

        db.session.execute(insert(User), [account("benchadmin", "admin")])
        db.session.execute(insert(User), [account(f"seller{i:03d}", "seller") for i in range(1, 51)])
        db.session.execute(insert(User), [account(f"buyer{i:04d}", "buyer") for i in range(1, 1001)])
        admin_id = db.session.scalar(select(User.id).where(User.username_key == "benchadmin"))
        sellers = db.session.scalars(select(User.id).where(User.role == "seller").order_by(User.id)).all()
        buyers = db.session.execute(select(User.id, User.username).where(User.role == "buyer").order_by(User.id)).all()
        db.session.execute(
            insert(Product),
            [
                {"product_name": f"Snack {i:03d}", "name_key": f"snack {i:03d}", "cost": 35,
                 "amount_available": STOCK, "units_stocked": STOCK, "seller_id": sellers[i % len(sellers)],
                 "refundable": False, "on_sale": True, "image_version": 0, "created_at": now, "updated_at": now}
                for i in range(200)
            ],
        )
        tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in buyers]
        db.session.execute(
            insert(AuthSession),
            [
                {"user_id": buyer.id, "token_hash": hash_token(token), "kind": "api", "user_agent": "bench",
                 "created_at": now, "last_seen_at": now, "expires_at": now + timedelta(days=1)}
                for buyer, token in zip(buyers, tokens, strict=True)
            ],
        )
        db.session.commit()
        product_ids = db.session.scalars(select(Product.id).order_by(Product.id)).all()
        fill = machine.set_tubes(Actor(admin_id, "admin", None), dict.fromkeys(COINS, TUBE_FILL),
                                 initial_float=app.config["INITIAL_FLOAT"])
        client = app.test_client()
        page = client.get("/api/v1/products?page_size=20")
        assert page.status_code == 200, page.data
        (workdir / "catalogue.json").write_bytes(page.data)
        (workdir / "x-pagination.txt").write_text(page.headers.get("X-Pagination", ""))
        db.session.remove()
    (workdir / "tokens.txt").write_text("\n".join(tokens) + "\n")
    (workdir / "usernames.txt").write_text("\n".join(b.username for b in buyers) + "\n")
    (workdir / "products.txt").write_text("\n".join(str(p) for p in product_ids) + "\n")
    return {"buyer_ids": [b.id for b in buyers], "seller_ids": list(sellers), "product_ids": list(product_ids),
            "fill": fill, "admin_id": admin_id}


# --- servers ------------------------------------------------------------------------------------


def gunicorn(target: str, port: int, env: dict, workdir: Path, name: str) -> subprocess.Popen:
    """gunicorn with the shipped gunicorn_cfg.py (the same for the app and the ceiling); only the bind
    address is the bench's."""
    env = {name: value for name, value in env.items() if not name.startswith("GUNICORN_")}
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "--config", str(ROOT / "gunicorn_cfg.py"),
        "--chdir", str(ROOT),
        "--pythonpath", f"{ROOT},{BENCH}",
        target,
    ]
    log_file = open(workdir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/v1/products?page_size=20"
    for _ in range(150):
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited; see {workdir / (name + '.log')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                if response.status == 200 and len(worker_pids(proc)) == SETTINGS["workers"]:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{name} did not answer on port {port}")


def worker_pids(proc: subprocess.Popen) -> list[int]:
    try:
        text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM; empty for a worker gone meanwhile."""
    fields = {}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return fields
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def cpu_ticks(pid: int) -> int:
    """utime + stime; 0 for a worker gone meanwhile (gunicorn recycles workers after max_requests)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def wait_until_idle(pids: list[int], timeout: float = 20.0) -> None:
    """A load generator stops sending, but requests it queued (logins: 0.2 s of hashing each) are still
    being served; memory is read once no worker has used CPU for half a second."""
    deadline = time.monotonic() + timeout
    before = {pid: cpu_ticks(pid) for pid in pids}
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = {pid: cpu_ticks(pid) for pid in pids}
        if after == before:
            return
        before = after


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- load -------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: trying apt-get install -y wrk")
    apt = ["apt-get", "install", "-y", "wrk"]
    if os.geteuid() != 0:
        apt = ["sudo", "-n", *apt]
    subprocess.run(apt, check=False)  # noqa: S603 (fixed command)
    found = shutil.which("wrk")
    if not found:
        sys.exit("make bench needs wrk (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)")
    return found


def wrk(port: int, scenario: str, args: list[str], workdir: Path, threads: int, seconds: int | None = None) -> dict:
    script = workdir / f"{scenario}.lua"
    parts = [(BENCH / "wrk" / name).read_text() for name in ("common.lua", f"{scenario}.lua")]
    script.write_text("\n".join(parts))
    seconds = seconds or SETTINGS["seconds"]
    cmd = [ensure_wrk(), "-t", str(threads), "-c", str(SETTINGS["concurrency"]), "-d", f"{seconds}s",
           "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}", "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)  # noqa: S603
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCHJSON "))
    data = json.loads(line.removeprefix("BENCHJSON "))
    seconds = data["duration_us"] / 1e6
    # A login refused with 503 (every password slot of the worker busy, by design) is not a login served.
    count = {"buy": data["cycles"], "login": data["ok"]}.get(scenario, data["requests"])
    return {
        "rate": count / seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "errors": data["requests"] - data["ok"] + data["socket_errors"],
        "c5xx": data["c5xx"],
        "c5xx_per_s": data["c5xx"] / seconds,
        "raw": data,
    }


def run_app_scenario(scenario: str, port: int, workdir: Path, seconds: int | None = None) -> dict:
    c = SETTINGS["concurrency"]
    threads = min(2, c)
    if scenario == "catalogue":
        return wrk(port, "catalogue", [], workdir, threads, seconds)
    if scenario == "me":
        return wrk(port, "me", [str(workdir / "tokens.txt"), str(threads)], workdir, threads, seconds)
    if scenario == "buy":  # one connection per thread: one buyer per connection, strict deposit/buy order
        return wrk(port, "buy", [str(workdir / "tokens.txt"), str(workdir / "products.txt")], workdir, c, seconds)
    if scenario == "login":
        return wrk(port, "login", [str(workdir / "usernames.txt"), PASSWORD, str(threads)], workdir, threads, seconds)
    raise ValueError(scenario)


WARMUP_SLICE = 5  # seconds


def warm_up(scenario: str, port: int, workdir: Path) -> list[dict]:
    """Run the scenario unmeasured first, in 5 s slices for BENCH_WARMUP seconds, so workers are
    measured in their steady state (imports done, connections pooled, the catalogue cached); login
    has nothing to warm. Returns the slices' results."""
    if scenario == "login" or SETTINGS["warmup"] <= 0:
        return []
    return [run_app_scenario(scenario, port, workdir, WARMUP_SLICE)
            for _ in range(max(1, SETTINGS["warmup"] // WARMUP_SLICE))]


def pgbench_ceiling(database_url: str, seeded: dict, workdir: Path) -> dict:
    """The SQL of a buy cycle (token checks, locks, writes, two commits) straight at PostgreSQL."""
    log_prefix = workdir / "pgbench_log"
    for old in workdir.glob("pgbench_log*"):
        old.unlink()
    buyers = seeded["buyer_ids"]
    cmd = [
        "pgbench", "-n", "-M", "prepared", "-c", str(SETTINGS["concurrency"]), "-j", "2",
        "-T", str(SETTINGS["seconds"]),
        "-f", str(BENCH / "buy_cycle.sql"), "-D", f"buyer_base={buyers[0] - 1}",
        "-D", f"pmin={min(seeded['product_ids'])}", "-D", f"pmax={max(seeded['product_ids'])}",
        "-l", "--log-prefix", str(log_prefix), libpq_url(database_url),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=SETTINGS["seconds"] + 60)  # noqa: S603
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr}")
    latencies = []
    for path in workdir.glob("pgbench_log*"):
        for line in path.read_text().splitlines():
            if line.split()[2].isdigit():  # a transaction that failed (a deadlock, say) is logged as "failed"
                latencies.append(int(line.split()[2]))
    latencies.sort()
    processed = int(next(x for x in out.stdout.splitlines() if "processed:" in x).split("processed:")[1].split("/")[0])
    failed = next((x for x in out.stdout.splitlines() if "failed:" in x), "failed: 0").split("failed:")[1].split()[0]
    return {
        "rate": processed / SETTINGS["seconds"],
        "p50_ms": percentile(latencies, 50) / 1000,
        "p99_ms": percentile(latencies, 99) / 1000,
        "max_ms": latencies[-1] / 1000 if latencies else 0,
        "errors": int(failed),
        "c5xx": 0,
        "raw": {"transactions": processed},
    }


def psycopg_ceiling(database_url: str, seeded: dict) -> dict:
    """Ceiling (b'), for comparison only: the same SQL from Python with psycopg (bench/sql_client.py),
    shaped like the app server (one client process per gunicorn worker)."""
    cmd = [
        sys.executable, str(BENCH / "sql_client.py"), libpq_url(database_url),
        "--buyer-base", str(seeded["buyer_ids"][0] - 1),
        "--pmin", str(min(seeded["product_ids"])), "--pmax", str(max(seeded["product_ids"])),
        "--clients", str(SETTINGS["concurrency"]), "--processes", str(SETTINGS["workers"]),
        "--seconds", str(SETTINGS["seconds"]),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=SETTINGS["seconds"] + 60)  # noqa: S603
    if out.returncode != 0:
        raise RuntimeError(f"sql_client.py failed: {out.stderr}")
    data = json.loads(next(x for x in out.stdout.splitlines() if x.startswith("BENCHJSON ")).removeprefix("BENCHJSON "))
    return {
        "rate": data["cycles"] / data["duration_s"],
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "errors": data["errors"],
        "c5xx": 0,
        "raw": data,
    }


def percentile(values: list[int], pct: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]


# --- checks -----------------------------------------------------------------------------------


def audit(env: dict) -> tuple[bool, str]:
    out = subprocess.run([str(VENV_BIN / "flask"), "audit"], env=env, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                         timeout=300)
    return out.returncode == 0, (out.stdout + out.stderr).strip()


def money_balance(database_url: str, client_deposits: int, in_flight_bound: int) -> tuple[bool, list[str]]:
    """Per coin: fill + inserted == tubes + escrow + change paid + coins returned, exactly.

    Inserted is the ledger's coin_inserted rows; it is cross-checked against what the load
    generators saw succeed (wrk's 2xx deposits, pgbench's completed cycles and the coins the psycopg
    client committed, all 100-cent coins):
    the server may have finished at most one in-flight deposit per connection after wrk stopped
    reading, so ledger - seen must lie in [0, in_flight_bound]. Change paid comes from the orders
    table (not the ledger), tubes and escrow from their own rows.
    """
    import psycopg

    def per_coin(conn, sql: str) -> dict[int, int]:
        return dict(zip(COINS, (int(v) for v in conn.execute(sql).fetchone()), strict=True))

    sums = ", ".join(f"COALESCE(SUM(c{c}), 0)" for c in COINS)
    with psycopg.connect(libpq_url(database_url)) as conn:
        tubes = dict(conn.execute("SELECT coin, count FROM coin_tubes").fetchall())
        escrow = per_coin(conn, "SELECT " + ", ".join(f"COALESCE(SUM(escrow_{c}), 0)" for c in COINS) + " FROM users")
        fill = per_coin(conn, f"SELECT {sums} FROM ledger_entries WHERE kind IN ('float_loaded', 'tubes_set')")
        inserted = per_coin(conn, f"SELECT {sums} FROM ledger_entries WHERE kind = 'coin_inserted'")
        returned = per_coin(conn, f"SELECT {sums} FROM ledger_entries WHERE kind = 'escrow_returned'")
        paid_out = dict.fromkeys(COINS, 0)
        for (change,) in conn.execute("SELECT change FROM orders"):
            for coin in change if isinstance(change, list) else json.loads(change):
                paid_out[coin] += 1
    lines, ok = [], True
    for coin in COINS:
        left = fill[coin] + inserted[coin]
        right = tubes[coin] + escrow[coin] + paid_out[coin] + returned[coin]
        ok &= left == right
        lines.append(f"| {coin}c | {fill[coin]} | {inserted[coin]} | {tubes[coin]} | {escrow[coin]} | "
                     f"{paid_out[coin]} | {returned[coin]} | {'ok' if left == right else 'MISMATCH'} |")
    unseen = inserted[100] - client_deposits
    seen_ok = 0 <= unseen <= in_flight_bound and sum(inserted.values()) == inserted[100]
    ok &= seen_ok
    lines += ["", f"Coins the load generators saw accepted: {client_deposits}; the ledger holds {inserted[100]} "
              f"({unseen} finished in flight after a generator stopped; allowed 0..{in_flight_bound}): "
              f"{'ok' if seen_ok else 'MISMATCH'}."]
    return ok, lines


# --- report -------------------------------------------------------------------------------------


def machine_info(database_url: str) -> dict:
    import psycopg

    with psycopg.connect(libpq_url(database_url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "postgresql": pg,
            "kernel": platform.release(), "loadavg_before": Path("/proc/loadavg").read_text().split()[:3]}


def median_of(rounds: list[dict]) -> dict:
    keys = ("rate", "p50_ms", "p99_ms")
    result = {k: statistics.median(r[k] for r in rounds) for k in keys}
    result["max_ms"] = max(r["max_ms"] for r in rounds)
    result["errors"] = sum(r["errors"] for r in rounds)
    result["c5xx"] = sum(r["c5xx"] for r in rounds)
    return result


SCENARIO_NAMES = {
    "catalogue": "1 catalogue GET /api/v1/products?page_size=20",
    "me": "2 signed-in read GET /api/v1/users/me",
    "buy": "3 buy cycle (deposit 100 + buy 35), cycles/s",
    "login": "4 login POST /api/v1/auth/login",
    "ceiling_flask_catalogue": "ceiling (a): bare Flask, same JSON, scenario-1 script",
    "ceiling_flask_me": "ceiling (a): bare Flask, same JSON, scenario-2 script",
    "ceiling_sql_buy": "ceiling (b): buy-cycle SQL via pgbench, cycles/s",
    "ceiling_sql_buy_psycopg": "ceiling (b'), for comparison: the same SQL via psycopg from Python, cycles/s",
}
CEILING_OF = {"catalogue": "ceiling_flask_catalogue", "me": "ceiling_flask_me", "buy": "ceiling_sql_buy"}
TARGETS = {"catalogue": 0.50, "me": 0.20, "buy": 0.35}


def round_ratios(results: dict[str, list[dict]], key: str, ceiling_key: str | None = None) -> list[float]:
    """Each round's rate over the ceiling measured in that round, so a slow phase of the VM weighs on both sides."""
    ceiling_rounds = results.get(ceiling_key or CEILING_OF.get(key), [])
    return [r["rate"] / c["rate"] if c["rate"] else 0.0 for r, c in zip(results[key], ceiling_rounds, strict=False)]


def render(info: dict, results: dict[str, list[dict]], warmups: dict[str, list[int]], memory: dict,
           audit_ok: bool, audit_text: str, balance_ok: bool, balance_lines: list[str],
           loadavg_after: list[str]) -> str:
    s = SETTINGS
    out = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `make bench`: {s['runs']} round(s) of "
        f"{s['seconds']} s "
        f"per scenario at concurrency {s['concurrency']}; medians of the rounds (max latency: worst round; "
        "errors: sum of rounds).",
        "",
        f"Machine: {info['cores']} cores ({info['cpu']}), Linux {info['kernel']}, Python {info['python']}, "
        f"PostgreSQL {info['postgresql']}. Load average before: {' '.join(info['loadavg_before'])}; "
        f"after: {' '.join(loadavg_after)} (other jobs shared the machine when it was above ~1).",
        "",
        f"Server: gunicorn with the shipped gunicorn_cfg.py defaults ({s['workers']} {s['worker_class']} workers x "
        f"{s['threads']} thread(s)), "
        "ProductionConfig, rate limiting off, catalogue cache on (versions in a memory-mapped file), on 127.0.0.1. "
        "Each scenario (login excepted) runs unmeasured first, on the ceiling too, so workers are measured warm: "
        f"{s['warmup']} s. Load generator: wrk 4.1 (Lua scripts in bench/wrk/) "
        "on the same machine; the SQL ceiling uses pgbench with bench/buy_cycle.sql (and, for comparison, "
        "bench/sql_client.py sends the same file's SQL with psycopg).",
        "",
        "| scenario | req/s (cycles/s) | p50 ms | p99 ms | max ms | errors (non-2xx) | 5xx | ceiling | ratio "
        "| target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in ("catalogue", "me", "buy", "login", "ceiling_flask_catalogue", "ceiling_flask_me", "ceiling_sql_buy",
                "ceiling_sql_buy_psycopg"):
        if key not in results:
            continue
        m = median_of(results[key])
        ceiling_key = CEILING_OF.get(key)
        ratio = ceiling = target = ""
        if ceiling_key in results:
            ceiling = f"{median_of(results[ceiling_key])['rate']:.0f}"
            r = statistics.median(round_ratios(results, key))
            ratio = f"{r:.0%}"
            goal = TARGETS[key]
            met = r >= goal and m["errors"] == 0 and (key != "buy" or m["p99_ms"] < 100)
            target = f"{'met' if met else 'NOT met'} (>= {goal:.0%}{', p99 < 100 ms' if key == 'buy' else ''})"
        out.append(f"| {SCENARIO_NAMES[key]} | {m['rate']:.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | "
                   f"{m['max_ms']:.1f} | {m['errors']} | {m['c5xx']} | {ceiling} | {ratio} | {target} |")
    if "buy" in results and "ceiling_sql_buy_psycopg" in results:
        out += ["", f"Buy cycle against ceiling (b'), the same SQL sent by psycopg from {s['workers']} Python "
                f"processes: {statistics.median(round_ratios(results, 'buy', 'ceiling_sql_buy_psycopg')):.0%} "
                "(median of the rounds). For comparison only: "
                "the target is judged against pgbench (b)."]
    if "login" in results:
        refused = statistics.median(r.get("c5xx_per_s", 0.0) for r in results["login"])
        out += ["", f"Login: the rate counts logins served (200). The 5xx are 503 refusals, {refused:.0f}/s: at most "
                f"PASSWORD_CHECKS_PER_WORKER argon2id checks run at once in a worker, the next one is refused "
                "with Retry-After at once (issue 16), and wrk sends 16 at a time without waiting."]
    out += ["", "Per round (rate):", ""]
    for key, rounds in results.items():
        out.append(f"- {key}: " + ", ".join(f"{r['rate']:.0f}" for r in rounds))
    out += ["", "Per round (ratio to the same round's ceiling; the ratio column is their median):", ""]
    for key in CEILING_OF:
        if key in results and CEILING_OF[key] in results:
            out.append(f"- {key}: " + ", ".join(f"{r:.0%}" for r in round_ratios(results, key)))
    out += ["", "Warm-up per round (s):", ""]
    for key, seconds in warmups.items():
        out.append(f"- {key}: " + ", ".join(str(x) for x in seconds))
    out += ["", "Buy-cycle latencies are per request for the app (a cycle is two requests) and per cycle "
            "(both transactions) for pgbench and psycopg.", "",
            "## Memory per gunicorn worker (app), MB", "",
            "| worker | RSS after the run | peak RSS (VmHWM) |", "|---|---:|---:|"]
    for pid, mem in memory.items():
        out.append(f"| {pid} | {mem['VmRSS']:.1f} | {mem['VmHWM']:.1f} |")
    out += ["", "The peak includes the login scenario: each argon2id verification allocates 64 MiB while it runs.",
            "", "## Audit after the load (`flask audit` on the bench database)", "", "```", audit_text, "```", "",
            f"Audit: {'clean' if audit_ok else 'FAILED'}.", "",
            "## Money balance per coin", "",
            "fill (float + operator refills) + inserted == tubes + escrow + change paid (from the orders) "
            "+ coins returned", "",
            "| coin | fill | inserted | tubes | escrow | change paid | returned | balance |",
            "|---|---:|---:|---:|---:|---:|---:|---|", *balance_lines, "",
            f"Money balance: {'exact' if balance_ok else 'MISMATCH'}.", ""]
    return "\n".join(out)


def main() -> int:
    s = SETTINGS
    ensure_wrk()
    name = f"vending_bench_{secrets.token_hex(4)}"
    database_url = s["server"].rstrip("/") + "/" + name
    workdir = Path(tempfile.mkdtemp(prefix="vending-bench-"))
    log(f"database {name}, work dir {workdir}")
    admin_execute(s["server"], f'CREATE DATABASE "{name}"')
    try:
        env = app_env(database_url, workdir / "cache-versions")
        subprocess.run([str(VENV_BIN / "flask"), "db", "upgrade"], env=env, cwd=ROOT, check=True,  # noqa: S603
                       capture_output=True, timeout=300)
        log("migrated; seeding")
        seeded = seed(database_url, workdir)
        info = machine_info(database_url)
        log(f"seeded; machine {info}")
        ceiling_env = {**env, "BENCH_CEILING_BODY": str(workdir / "catalogue.json"),
                       "BENCH_CEILING_PAGINATION": (workdir / "x-pagination.txt").read_text()}
        results: dict[str, list[dict]] = {}
        memory: dict = {}
        warmups: dict[str, list[int]] = {}
        deposits = in_flight = 0
        for round_no in range(1, s["runs"] + 1):
            log(f"round {round_no}/{s['runs']}: ceiling (a) bare Flask")
            ceiling = gunicorn("ceiling_app:create_app()", s["ceiling_port"], ceiling_env, workdir, "ceiling")
            try:
                for scenario in ("catalogue", "me"):
                    if scenario in s["scenarios"]:
                        warmed = warm_up(scenario, s["ceiling_port"], workdir)
                        warmups.setdefault(f"ceiling_flask_{scenario}", []).append(len(warmed) * WARMUP_SLICE)
                        results.setdefault(f"ceiling_flask_{scenario}", []).append(
                            run_app_scenario(scenario, s["ceiling_port"], workdir))
            finally:
                stop(ceiling)
            log(f"round {round_no}: the app")
            server = gunicorn("prod_wsgi:app", s["port"], env, workdir, "app")
            try:
                for scenario in s["scenarios"]:
                    warmed = warm_up(scenario, s["port"], workdir)
                    warmups.setdefault(scenario, []).append(len(warmed) * WARMUP_SLICE)
                    if scenario == "buy":  # its coins count in the money balance
                        deposits += sum(part["raw"]["deposits"] for part in warmed)
                        in_flight += s["concurrency"] * len(warmed)
                    result = run_app_scenario(scenario, s["port"], workdir)
                    results.setdefault(scenario, []).append(result)
                    if scenario == "buy":
                        deposits += result["raw"]["deposits"]
                        in_flight += s["concurrency"]
                    log(f"  {scenario}: {result['rate']:.0f}/s p50 {result['p50_ms']:.1f} ms "
                        f"p99 {result['p99_ms']:.1f} ms errors {result['errors']}")
                wait_until_idle(worker_pids(server))
                memory = {pid: mem for pid in worker_pids(server) if (mem := memory_mb(pid))}
            finally:
                stop(server)
            if "buy" in s["scenarios"]:
                log(f"round {round_no}: ceiling (b) buy-cycle SQL via pgbench")
                result = pgbench_ceiling(database_url, seeded, workdir)
                results.setdefault("ceiling_sql_buy", []).append(result)
                deposits += result["raw"]["transactions"]
                in_flight += s["concurrency"]
                log(f"  sql: {result['rate']:.0f} cycles/s p99 {result['p99_ms']:.1f} ms")
                log(f"round {round_no}: ceiling (b') the same SQL via psycopg, for comparison")
                result = psycopg_ceiling(database_url, seeded)
                results.setdefault("ceiling_sql_buy_psycopg", []).append(result)
                deposits += result["raw"]["deposits"]
                in_flight += s["concurrency"]
                log(f"  psycopg: {result['rate']:.0f} cycles/s p99 {result['p99_ms']:.1f} ms")
        audit_ok, audit_text = audit(env)
        balance_ok, balance_lines = money_balance(database_url, deposits, in_flight)
        report = render(info, results, warmups, memory, audit_ok, audit_text, balance_ok, balance_lines,
                        Path("/proc/loadavg").read_text().split()[:3])
        s["results"].write_text(report)
        print(report)
        log(f"written {s['results']}")
        return 0 if audit_ok and balance_ok else 1
    finally:
        if s["keep_db"]:
            log(f"kept database {database_url}")
        else:
            admin_execute(s["server"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
