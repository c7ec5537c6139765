"""The Postman collection, run by newman against a live gunicorn server on a fresh database."""

import json
import os
import shutil
import subprocess

import pytest

from tests.deploy.conftest import GUNICORN, ROOT, migrate_database, server_env, start_gunicorn

pytestmark = pytest.mark.slow

PORT = 5203
POSTMAN = ROOT / "docs" / "postman"
COLLECTION = POSTMAN / "vending.postman_collection.json"
ENVIRONMENT = POSTMAN / "vending.postman_environment.json"
LOCAL_NEWMAN = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "newman"


def newman_command() -> list[str] | None:
    if LOCAL_NEWMAN.exists() and shutil.which("node"):
        return [str(LOCAL_NEWMAN)]
    if shutil.which("newman"):
        return [shutil.which("newman")]
    return None


def requests_of(collection: dict) -> list[dict]:
    found = []
    for item in collection["item"]:
        found += requests_of(item) if "item" in item else [item]
    return found


def test_collection_covers_every_endpoint_with_tests(make_app):
    spec = make_app(SQLALCHEMY_DATABASE_URI="sqlite://").test_client().get("/api/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    collection = json.loads(COLLECTION.read_text())
    covered = set()
    for item in requests_of(collection):
        request = item["request"]
        path = "/" + "/".join(request["url"]["path"])
        path = path.replace("{{productId}}", "{product_id}").replace("{{spareProductId}}", "{product_id}")
        for var, name in (("buyerId", "user_id"), ("sellerId", "user_id"), ("tempId", "user_id"),
                          ("orderId", "order_id"), ("otherSessionId", "session_id")):
            path = path.replace("{{" + var + "}}", "{" + name + "}")
        covered.add((request["method"], path))
        scripts = [e for e in item["event"] if e["listen"] == "test"]
        lines = scripts[0]["script"]["exec"] if scripts else []
        assert any("pm.response.to.have.status" in line for line in lines), item["name"]
    assert documented - covered == set()
    env = {v["key"] for v in json.loads(ENVIRONMENT.read_text())["values"]}
    assert {"baseUrl", "adminUsername", "adminPassword"} <= env


def test_newman_runs_the_whole_story(fresh_database_url, processes, tmp_path):
    newman = newman_command()
    if newman is None:
        pytest.skip("newman is not installed (.ci/run installs it into .ci/node with npm)")
    if not GUNICORN.exists():
        pytest.skip("needs gunicorn in the virtualenv")
    # make run's configuration: development, its default rate limits (the collection must fit them twice)
    env = server_env(fresh_database_url, APP_CONFIG="development")
    for name in ("LOGIN_RATE_LIMIT", "REGISTER_RATE_LIMIT", "RATELIMIT_ENABLED"):
        env.pop(name, None)
    migrate_database(env)
    made = subprocess.run(
        [str(GUNICORN.parent / "flask"), "create-admin", "operator", "--password-stdin"],
        cwd=ROOT, env=env, input="operator-password\n", capture_output=True, text=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr
    start_gunicorn(processes, "postman_app", PORT, env, workers=1)
    report = tmp_path / "newman.json"
    run = [
        *newman, "run", str(COLLECTION),
        "-e", str(ENVIRONMENT),
        "--env-var", f"baseUrl=http://127.0.0.1:{PORT}",
        "--env-var", "adminUsername=operator",
        "--env-var", "adminPassword=operator-password",
        "--working-dir", str(POSTMAN),
        "--bail", "--color", "off", "--disable-unicode",
        "--reporters", "cli,json", "--reporter-json-export", str(report),
    ]
    for _ in range(2):  # twice in a row, within the limits' minute
        result = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "NO_UPDATE_NOTIFIER": "1"})
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["assertions"]["failed"] == 0 and stats["requests"]["failed"] == 0
    assert stats["requests"]["total"] == len(requests_of(json.loads(COLLECTION.read_text())))
    assert stats["assertions"]["total"] >= 150
