"""The dependency locks: every package pinned with hashes, the dev lock agreeing with the runtime lock, the
locks made from the source lists by the command Renovate can rerun, and `make run` / the image installing
the runtime lock only, from PyPI only."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.deploy.conftest import ROOT

LOCKS = {"requirements.txt": "requirements.in", "requirements-dev.txt": "requirements-dev.in"}
DEV_ONLY = ("pytest", "ruff", "hypothesis", "schemathesis", "bandit", "import-linter", "pip-tools")
# The pip-compile options Renovate's pip-compile manager accepts in a lock's header (it refuses the rest).
RENOVATE_OPTIONS = {"--allow-unsafe", "--generate-hashes", "--strip-extras", "--no-emit-index-url",
                    "--emit-index-url", "--all-extras", "-v", "--output-file", "--extra", "--extra-index-url",
                    "--resolver", "--constraint", "--index-url"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(path: str) -> list[str]:
    """A requirements file's entries: continuation lines joined, comments and blank lines dropped."""
    text = (ROOT / path).read_text()
    logical = re.sub(r"\s*\\\n\s*", " ", text)
    lines = (line.split(" #", 1)[0].strip() for line in logical.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def pins(path: str) -> dict[str, str]:
    found = {}
    for entry in entries(path):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)", entry)
        if match:
            found[normalize(match.group(1))] = match.group(3)
    return found


def header_command(path: str) -> list[str]:
    match = re.search(r"(?m)^# by the following command:\n#\n#    (.+)\n", (ROOT / path).read_text())
    assert match, f"{path} has no pip-compile header"
    return shlex.split(match.group(1))


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_in_a_lock_is_pinned_with_hashes(lock):
    locked = entries(lock)
    assert len(locked) >= 20
    for entry in locked:
        # name==version and its hashes, nothing else: no range, marker-only line, URL, path, editable
        # install, other index or wheel folder (pip-compile would write those as lines of their own).
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*==[0-9][^\s;]*( --hash=sha256:[0-9a-f]{64})+", entry), entry


def test_the_dev_lock_agrees_with_the_runtime_lock():
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    shared = set(runtime) & set(dev)
    assert shared, "the dev tools share no package with the app: the -c constraint is not being exercised"
    assert {name: dev[name] for name in shared} == {name: runtime[name] for name in shared}
    assert "-c requirements.txt" in entries("requirements-dev.in")


def test_dev_tools_are_in_the_dev_lock_only():
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    for tool in DEV_ONLY:
        assert tool in dev, tool
        assert tool not in runtime, tool
    assert dev["import-linter"] and dev["pip-tools"]


@pytest.mark.parametrize("lock, source", LOCKS.items())
def test_each_lock_was_made_from_its_source_list(lock, source):
    locked = pins(lock)
    direct = pins(source)
    assert direct, source
    # A pin edited in the .in file without `make lock` afterwards shows up here.
    assert {name: locked.get(name) for name in direct} == direct


@pytest.mark.parametrize("lock, source", LOCKS.items())
def test_lock_headers_hold_a_command_renovate_can_rerun(lock, source):
    argv = header_command(lock)
    assert argv[0] == "pip-compile"
    options = [arg for arg in argv[1:] if arg.startswith("-")]
    assert {option.split("=", 1)[0] for option in options} <= RENOVATE_OPTIONS, options
    assert "--generate-hashes" in options and "--strip-extras" in options
    assert f"--output-file={lock}" in options
    assert [arg for arg in argv[1:] if not arg.startswith("-")] == [source]
    assert "with Python 3.11" in (ROOT / lock).read_text(), "the image runs Python 3.11: lock with it"


def test_make_lock_runs_the_same_command_as_the_headers():
    makefile = (ROOT / "Makefile").read_text()
    lock = re.search(r"(?m)^lock:.*\n((?:\t.*\n)+)", makefile).group(1)
    assert "requirements.in" in lock and "requirements-dev.in" in lock
    assert lock.index("requirements.in") < lock.index("requirements-dev.in"), "the dev lock reads the runtime lock"
    compile_flags = re.search(r"(?m)^PIP_COMPILE := .*pip-compile (.*)$", makefile).group(1).split()
    for lock_file in LOCKS:
        header_flags = {arg for arg in header_command(lock_file)[1:] if arg.startswith("--")}
        assert {flag for flag in compile_flags if flag != "--quiet"} <= header_flags


def renovate() -> dict:
    return json.loads((ROOT / "renovate.json").read_text())


def test_renovate_keeps_the_locks_and_images_moving():
    config = renovate()
    assert "pip-compile" in config["enabledManagers"]
    assert "pip_requirements" not in config["enabledManagers"], "it would edit the locks behind pip-compile's back"
    assert {"dockerfile", "docker-compose"} <= set(config["enabledManagers"])
    patterns = config["pip-compile"]["managerFilePatterns"]
    regexes = [re.compile(pattern.strip("/")) for pattern in patterns]
    for name in LOCKS:
        assert any(regex.search(name) for regex in regexes), name
    for name in LOCKS.values():
        assert not any(regex.search(name) for regex in regexes), f"{name}: Renovate wants the outputs, not the sources"
    assert config["lockFileMaintenance"]["enabled"] is True
    assert config["constraints"]["python"] == "==3.11"


def make_dry_run(tmp_path, target: str) -> list[str]:
    """The commands `make TARGET` would run on a fresh clone (a venv that does not exist yet)."""
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'fresh-venv'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "SECRET_KEY": "x" * 40},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"/pip install ", line)]


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
@pytest.mark.parametrize("target", ["run", "serve"])
def test_make_run_on_a_fresh_clone_installs_the_runtime_lock_only(tmp_path, target):
    installs = pip_installs(make_dry_run(tmp_path, target))
    assert len(installs) == 1, installs
    assert installs[0].endswith("install -q --require-hashes -r requirements.txt")
    assert "requirements-dev" not in "\n".join(make_dry_run(tmp_path, target))


@needs_make
def test_make_test_installs_both_locks_with_hashes(tmp_path):
    installs = pip_installs(make_dry_run(tmp_path, "test"))
    assert len(installs) == 1, installs
    assert installs[0].endswith("install -q --require-hashes -r requirements.txt -r requirements-dev.txt")


@needs_make
def test_pip_under_make_sees_pypi_only(tmp_path):
    """The environment the Makefile gives pip hides a user's extra indexes and wheel folders (real pip)."""
    line = pip_installs(make_dry_run(tmp_path, "venv"))[0]
    argv = shlex.split(line)
    pip_at = next(i for i, arg in enumerate(argv) if arg.endswith("/bin/pip"))
    venv_conf = tmp_path / "fresh-venv" / "pip.conf"
    venv_conf.parent.mkdir()
    printf = next(line for line in make_dry_run(tmp_path, "venv") if line.startswith("printf"))
    venv_conf.write_text(shlex.split(printf.split(" > ")[0])[1].replace("\\n", "\n"))
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nfind-links = /nowhere/wheels\nextra-index-url = file:///nowhere/simple\n"
    )
    env = {**os.environ, "HOME": str(home), "PIP_FIND_LINKS": "/nowhere/env-wheels",
           "PIP_EXTRA_INDEX_URL": "file:///nowhere/env-simple", "PIP_INDEX_URL": "file:///nowhere/index"}
    result = subprocess.run([*argv[:pip_at], sys.executable, "-m", "pip", "config", "list"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "index-url='https://pypi.org/simple'" in result.stdout
    assert "nowhere" not in result.stdout, result.stdout


def dockerfile_pip_installs() -> list[str]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    commands = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [part.strip() for line in commands for part in line.split("&&") if "pip install" in part]


def test_the_image_installs_the_runtime_lock_only_with_hashes():
    installs = dockerfile_pip_installs()
    assert installs, "the Dockerfile installs nothing"
    for install in installs:
        assert "--require-hashes" in install and "-r /tmp/requirements.txt" in install, install
    text = (ROOT / "Dockerfile").read_text()
    assert "requirements-dev" not in text
    assert "COPY requirements.txt /tmp/requirements.txt" in text
