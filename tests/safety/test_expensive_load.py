"""The cap on expensive work holds under gunicorn (issue 22, findings 3 and 4): real argon2id, real zxcvbn, real
Pillow.

While clients run flat out, registering with the worst-case passwords, changing passwords and uploading pictures
(the 38-byte WebP of 4096x4096 pixels, refused from its header; a 640x480 photo and the largest picture accepted,
2048x2048, decoded and re-encoded), one client reads the catalogue: its median stays within 3x of its median
without that load. Every refusal of the cap is a 503 with Retry-After (the clients wait as told), never a 500, and
the workers' memory stays bounded. Rate limits are off, as for an attacker with many addresses and accounts: only
the cap (app.services.expensive) stands between the work and the reads. The figures are printed (pytest -s) and
kept in bench/README.md.
"""

import io
import os
import statistics
import threading
import time
import urllib.request
import uuid

import pytest
from PIL import Image

from tests.deploy.conftest import GUNICORN, Processes, free_port, http, migrate_database, server_env, start_gunicorn

pytestmark = pytest.mark.slow

WORKERS = 2  # x 4 threads: 2 slots for expensive work each
CLIENTS = 10  # 4 registering, 3 changing passwords, 3 uploading
WINDOWS, WINDOW_SECONDS = 8, 1.5
# zxcvbn's slowest kind of input (bench/README.md, "Password strength"), two of them to change between.
WORST = ("4@8({[<369!1|70$5+%2" * 4)[:72]
WORST_TOO = ("9[{64(17$5+@|" * 6)[:72]
MIB = 1024 * 1024


def lossless_webp(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(out, format="WEBP", lossless=True, quality=0, method=0)
    return out.getvalue()


def photo() -> bytes:
    """A 640x480 JPEG of noise: a picture of the size a tile shows, that compresses like a photo."""
    out = io.BytesIO()
    Image.effect_noise((640, 480), 40).convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def upload(url: str, token: str, data: bytes) -> tuple[int, dict]:
    """PUT a multipart picture: (status, headers)."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.webp"\r\n'
            "Content-Type: image/webp\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={  # noqa: S310 (loopback)
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            error.read()
            return error.code, dict(error.headers)
    except OSError:
        return 0, {}


def worker_rss_mib(master_pid: int) -> dict[int, float]:
    """VmRSS of each worker (the gunicorn master's children), in MiB."""
    try:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as listing:
            children = listing.read().split()
    except OSError:
        return {}
    sizes = {}
    for pid in map(int, children):
        try:
            with open(f"/proc/{pid}/status") as file:
                status = file.read()
        except OSError:
            continue
        kib = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")]
        if kib:  # an exiting worker (gunicorn recycles them after max_requests) has none
            sizes[pid] = kib[0] / 1024
    return sizes


@pytest.fixture
def served(fresh_database_url, tmp_path):
    if not GUNICORN.exists():
        pytest.skip("needs gunicorn in the virtualenv")
    env = server_env(fresh_database_url, RATELIMIT_ENABLED="0")
    migrate_database(env)
    processes = Processes(tmp_path)
    port = free_port()
    try:
        start_gunicorn(processes, "app", port, env, workers=WORKERS)
        yield f"http://127.0.0.1:{port}", processes.procs["app"].pid
    finally:
        processes.stop_all()


def read_latencies(url: str, count: int = 0, seconds: float = 0) -> list[float]:
    """At least `count` reads, for at least `seconds`."""
    latencies = []
    until = time.monotonic() + seconds
    while len(latencies) < count or time.monotonic() < until:
        started = time.perf_counter()
        status, _, _ = http("GET", url, timeout=30)
        latencies.append(time.perf_counter() - started)
        assert status == 200
    return latencies


def account(base: str, name: str, role: str) -> tuple[int, str]:
    status, _, user = http("POST", f"{base}/api/v1/users",
                           {"username": name, "password": "load-password-1", "role": role}, timeout=60)
    assert status == 201, user
    status, _, login = http("POST", f"{base}/api/v1/auth/login",
                            {"username": name, "password": "load-password-1"}, timeout=60)
    assert status == 200, login
    return user["id"], login["token"]


def test_expensive_work_leaves_catalogue_reads_within_3x(served):
    """The load is switched on and off WINDOWS times; the reads of the windows with load are compared with those
    of the windows without, taken in between: other jobs on a shared machine weigh on both sides alike."""
    base, master = served
    seller_id, seller_token = account(base, "seller1", "seller")
    products = []
    for n in range(3):
        status, _, product = http("POST", f"{base}/api/v1/products",
                                  {"productName": f"Cola {n}", "cost": 35, "amountAvailable": 5},
                                  {"Authorization": f"Bearer {seller_token}"})
        assert status == 201
        products.append(product["id"])
    changers = [account(base, f"changer{n}", "buyer") for n in range(3)]
    catalogue = f"{base}/api/v1/products?page_size=20"
    read_latencies(catalogue, 40)  # warm every worker
    idle_rss = worker_rss_mib(master)

    huge, picture, largest = lossless_webp(4096), photo(), lossless_webp(2048)
    assert len(huge) < 100 and len(picture) < MIB
    stop, loading = threading.Event(), threading.Event()
    in_flight = threading.Semaphore(CLIENTS)
    answers: dict[str, list[int]] = {"register": [], "change": [], "upload": []}
    busy_replies: list[tuple[str, dict]] = []
    peak_rss: dict[int, float] = {}

    def send(kind: str, request):
        """One request of the load, sent while the load is on, and again after Retry-After while it is a 503."""
        while not stop.is_set():
            if not loading.wait(0.1):
                continue
            with in_flight:
                status, headers, body = request()
            answers[kind].append(status)
            if status != 503:
                return status
            busy_replies.append((headers.get("Retry-After"), body))
            stop.wait(float(headers.get("Retry-After") or 1))
        return None

    def register(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            body = {"username": f"r{n}-{i}", "password": WORST}
            send("register", lambda body=body: http("POST", f"{base}/api/v1/users", body, timeout=60))

    def change(user_id: int, token: str) -> None:
        current, new = "load-password-1", WORST
        while not stop.is_set():
            body = {"currentPassword": current, "password": new}
            status = send("change", lambda body=body: http("PATCH", f"{base}/api/v1/users/{user_id}", body,
                                                           {"Authorization": f"Bearer {token}"}, timeout=60))
            if status == 200:
                current, new = new, (WORST_TOO if new == WORST else WORST)

    def pictures(product_id: int) -> None:
        url = f"{base}/api/v1/products/{product_id}/image"
        while not stop.is_set():
            for data in (huge, picture, largest):
                send("upload", lambda data=data: (*upload(url, seller_token, data), {"code": 503}))

    def sample_memory() -> None:
        while not stop.is_set():
            for pid, mib in worker_rss_mib(master).items():
                peak_rss[pid] = max(peak_rss.get(pid, 0), mib)
            stop.wait(0.1)

    clients = ([threading.Thread(target=register, args=(n,), daemon=True) for n in range(4)]
               + [threading.Thread(target=change, args=who, daemon=True) for who in changers]
               + [threading.Thread(target=pictures, args=(p,), daemon=True) for p in products])
    assert len(clients) == CLIENTS
    clients.append(threading.Thread(target=sample_memory, daemon=True))
    for client in clients:
        client.start()
    loaded: list[float] = []
    unloaded: list[float] = []
    try:
        for _ in range(WINDOWS):
            loading.set()
            time.sleep(1.0)  # every slot busy before the reads start
            loaded += read_latencies(catalogue, seconds=WINDOW_SECONDS)
            loading.clear()
            for _ in range(CLIENTS):  # every request of the load answered
                assert in_flight.acquire(timeout=60)
            for _ in range(CLIENTS):
                in_flight.release()
            unloaded += read_latencies(catalogue, seconds=WINDOW_SECONDS)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=120)
    assert not any(client.is_alive() for client in clients)
    idle, busy = statistics.median(unloaded), statistics.median(loaded)

    print(f"\ncatalogue median: {idle * 1e3:.1f} ms idle ({len(unloaded)} reads), {busy * 1e3:.1f} ms under load "
          f"({len(loaded)} reads, {busy / idle:.2f}x); answers: "
          + ", ".join(f"{kind} {sorted((s, v.count(s)) for s in set(v))}" for kind, v in answers.items())
          + f"; worker RSS MiB idle {sorted(round(v) for v in idle_rss.values())}, "
            f"peak {sorted(round(v) for v in peak_rss.values())}")

    assert set(answers["register"]) <= {201, 503}, answers["register"]
    assert set(answers["change"]) <= {200, 503}, answers["change"]
    assert set(answers["upload"]) <= {200, 422, 503}, answers["upload"]
    assert answers["register"].count(201) >= 1 and answers["change"].count(200) >= 1
    assert answers["upload"].count(200) >= 1 and answers["upload"].count(422) >= 1
    assert busy_replies, "ten clients should find every slot of both workers taken"
    for retry_after, body in busy_replies:
        assert retry_after == "1" and body["code"] == 503
    # argon2id takes 64 MiB and a decoded picture up to 16 MiB a copy: two slots a worker bound what it holds at
    # once (measured: 90-300 MiB over idle; the allocator keeps some of what was freed). Without them and the
    # pixel limit, sixteen pictures of 4096x4096 took the workers from 614 MB to 2,368 MB (issue 22).
    for pid, peak in peak_rss.items():
        assert peak - idle_rss.get(pid, peak) < 512, (pid, idle_rss, peak_rss)
    assert busy <= 3 * idle, f"reads' median {busy * 1e3:.1f} ms under load, {idle * 1e3:.1f} ms without"
    assert os.path.exists(f"/proc/{master}")  # the server lived through it
