"""Profile one bench scenario in-process with pyinstrument: where does a request's time go?

    .venv/bin/python bench/profile.py catalogue|me|buy [requests]      (PROFILE_ALL=1: every frame)

Creates and seeds a throw-away database like make bench, sends the requests through Flask's
test client (no gunicorn, no network: only the app's own cost), prints the call tree, drops the
database.
"""

import os
import secrets
import sys
import tempfile
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


def main() -> None:
    scenario = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    name = f"vending_bench_{secrets.token_hex(4)}"
    database_url = bench.SETTINGS["server"].rstrip("/") + "/" + name
    bench.admin_execute(bench.SETTINGS["server"], f'CREATE DATABASE "{name}"')
    try:
        import subprocess

        env = bench.app_env(database_url)
        subprocess.run([str(bench.VENV_BIN / "flask"), "db", "upgrade"], env=env, cwd=bench.ROOT, check=True,  # noqa: S603
                       capture_output=True)
        workdir = Path(tempfile.mkdtemp(prefix="vending-profile-"))
        bench.seed(database_url, workdir)
        import config
        from app import create_app

        app = create_app(config.ProductionConfig())
        client = app.test_client()
        tokens = (workdir / "tokens.txt").read_text().split()
        products = (workdir / "products.txt").read_text().split()

        def one(i: int) -> None:
            if scenario == "catalogue":
                response = client.get("/api/v1/products?page_size=20")
            elif scenario == "me":
                response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens[i % 1000]}"})
            else:
                headers = {"Authorization": f"Bearer {tokens[i % 16]}"}
                response = client.post("/api/v1/deposit", json={"coin": 100}, headers=headers)
                assert response.status_code == 200, response.data
                response = client.post("/api/v1/buy", json={"productId": int(products[i % 200]), "amount": 1},
                                       headers=headers)
            assert response.status_code == 200, response.data

        for i in range(50):  # warm up
            one(i)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for i in range(count):
            one(i)
        profiler.stop()
        print(f"{scenario}: {count} requests (cycles) in {profiler.last_session.duration:.2f} s "
              f"= {profiler.last_session.duration / count * 1000:.2f} ms each")
        print(profiler.output_text(unicode=False, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))))
    finally:
        bench.admin_execute(bench.SETTINGS["server"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
