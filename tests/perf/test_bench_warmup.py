"""make bench measures each scenario warm (bench/bench.py warm_up): long enough for the read cache of every worker."""

import pytest


@pytest.fixture
def bench(bench_module, monkeypatch):
    module = bench_module
    monkeypatch.setitem(module.SETTINGS, "warmup", 15)
    monkeypatch.setitem(module.SETTINGS, "warmup_max", 90)
    monkeypatch.setitem(module.SETTINGS, "workers", 4)
    return module


def warm_with(bench, monkeypatch, tmp_path, requests_per_slice, scenario="me", tokens=1000):
    """warm_up() against a scenario whose successive 5 s slices send `requests_per_slice`; the slices it ran."""
    (tmp_path / "tokens.txt").write_text("".join(f"vm_token{n}\n" for n in range(tokens)))
    sliced = iter(requests_per_slice)
    runs = []

    def run(name, port, workdir, seconds):
        runs.append((name, seconds))
        return {"rate": 0, "raw": {"requests": next(sliced), "deposits": 0}}

    monkeypatch.setattr(bench, "run_app_scenario", run)
    warmed = bench.warm_up(scenario, 5301, tmp_path)
    assert all(run == (scenario, bench.WARMUP_SLICE) for run in runs) and len(runs) == len(warmed)
    return [part["raw"]["requests"] for part in warmed]


def test_a_fast_server_warms_for_the_minimum(bench, monkeypatch, tmp_path):
    assert warm_with(bench, monkeypatch, tmp_path, [10_000] * 20) == [10_000] * 3


def test_signed_in_reads_warm_until_every_worker_has_seen_every_token(bench, monkeypatch, tmp_path):
    """The slow machine's shape: 4 workers x 1,000 tokens x 4 passes = 16,000 requests, not 15 s."""
    slices = [1400, 1650, 1600, 2150, 4800, 8200, 8500]
    assert warm_with(bench, monkeypatch, tmp_path, slices) == slices[:6]  # 19,800 requests by then


def test_other_scenarios_warm_for_the_minimum_whatever_their_rate(bench, monkeypatch, tmp_path):
    assert warm_with(bench, monkeypatch, tmp_path, [50] * 20, scenario="buy") == [50] * 3
    assert warm_with(bench, monkeypatch, tmp_path, [50] * 20, scenario="catalogue") == [50] * 3


def test_the_warm_up_ends_at_its_maximum(bench, monkeypatch, tmp_path):
    assert warm_with(bench, monkeypatch, tmp_path, [100] * 40) == [100] * 18  # 90 s


def test_login_is_not_warmed(bench, monkeypatch, tmp_path):
    assert warm_with(bench, monkeypatch, tmp_path, [], scenario="login") == []
