"""make bench measures each scenario warm (bench/bench.py warm_up): BENCH_WARMUP seconds of it first."""

import pytest


@pytest.fixture
def bench(bench_module, monkeypatch):
    monkeypatch.setitem(bench_module.SETTINGS, "warmup", 15)
    return bench_module


def warm_with(bench, monkeypatch, tmp_path, scenario):
    """warm_up() against a fake scenario; the slices it ran."""
    runs = []

    def run(name, port, workdir, seconds):
        runs.append((name, seconds))
        return {"rate": 0, "raw": {"requests": 100, "deposits": 0}}

    monkeypatch.setattr(bench, "run_app_scenario", run)
    warmed = bench.warm_up(scenario, 5301, tmp_path)
    assert len(runs) == len(warmed)
    return runs


@pytest.mark.parametrize("scenario", ["catalogue", "me", "buy"])
def test_every_scenario_warms_for_bench_warmup_seconds_in_slices(bench, monkeypatch, tmp_path, scenario):
    assert warm_with(bench, monkeypatch, tmp_path, scenario) == [(scenario, bench.WARMUP_SLICE)] * 3


def test_login_is_not_warmed(bench, monkeypatch, tmp_path):
    assert warm_with(bench, monkeypatch, tmp_path, "login") == []


def test_the_bench_runs_the_shipped_gunicorn_settings(bench, bench_module):
    import runpy
    from pathlib import Path

    shipped = runpy.run_path(str(Path(bench_module.__file__).parents[1] / "gunicorn_cfg.py"))
    assert (bench.SETTINGS["workers"], bench.SETTINGS["threads"], bench.SETTINGS["worker_class"]) == (
        shipped["workers"], shipped["threads"], shipped["worker_class"])
