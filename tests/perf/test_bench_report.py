"""make bench judges each ratio round by round (bench/bench.py render): each round's rate over its own ceiling."""

import pytest


@pytest.fixture
def bench(bench_module):
    return bench_module


def rounds(*rates, p99=20.0):
    return [{"rate": rate, "p50_ms": 5.0, "p99_ms": p99, "max_ms": 40.0, "errors": 0, "c5xx": 0} for rate in rates]


def report(bench, results):
    info = {"cores": 2, "cpu": "test", "kernel": "k", "python": "3.11", "postgresql": "15", "loadavg_before": ["0"] * 3}
    return bench.render(info, results, {}, {}, True, "audit clean", True, [], ["0"] * 3)


def row(text, name):
    line = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_ratio_is_the_median_of_each_rounds_ratio(bench):
    """Rates 300/400/500 against 1000/500/1000: per round 30%, 80%, 50%; the ratio of the medians would be 40%."""
    text = report(bench, {"buy": rounds(300, 400, 500), "ceiling_sql_buy": rounds(1000, 500, 1000)})
    buy = row(text, bench.SCENARIO_NAMES["buy"])
    assert buy[7:10] == ["1000", "50%", "met (>= 35%, p99 < 100 ms)"]
    assert "- buy: 30%, 80%, 50%" in text.splitlines()


def test_a_ratio_under_target_in_most_rounds_is_not_met(bench):
    text = report(bench, {"catalogue": rounds(400, 600, 400), "ceiling_flask_catalogue": rounds(1000, 1000, 1000)})
    catalogue = row(text, bench.SCENARIO_NAMES["catalogue"])
    assert catalogue[8:10] == ["40%", "NOT met (>= 50%)"]
    assert "- catalogue: 40%, 60%, 40%" in text.splitlines()


def test_a_buy_cycle_with_a_slow_p99_is_not_met_whatever_its_ratio(bench):
    text = report(bench, {"buy": rounds(900, 900, 900, p99=120.0), "ceiling_sql_buy": rounds(1000, 1000, 1000)})
    assert row(text, bench.SCENARIO_NAMES["buy"])[8:10] == ["90%", "NOT met (>= 35%, p99 < 100 ms)"]


def test_a_scenario_without_its_ceiling_has_no_ratio(bench):
    text = report(bench, {"login": rounds(10, 11, 10)})
    assert row(text, bench.SCENARIO_NAMES["login"])[7:10] == ["", "", ""]
    assert "- login:" not in text.split("Per round (ratio")[1]


def test_the_comparison_with_psycopg_is_judged_round_by_round_too(bench):
    results = {"buy": rounds(300, 400, 500), "ceiling_sql_buy": rounds(1000, 1000, 1000),
               "ceiling_sql_buy_psycopg": rounds(1000, 500, 1000)}
    text = report(bench, results)
    assert "processes: 50% (median of the rounds)." in text


def test_logins_count_those_served_and_name_the_busy_refusals(bench):
    served = [{**r, "errors": 4000, "c5xx": 4000, "c5xx_per_s": 400.0} for r in rounds(10, 11, 12)]
    text = report(bench, {"login": served})
    assert row(text, bench.SCENARIO_NAMES["login"])[0:2] == [bench.SCENARIO_NAMES["login"], "11"]
    assert "The 5xx are 503 refusals, 400/s: at most PASSWORD_CHECKS_PER_WORKER" in text
