"""make bench-scale's report (bench/scale.py): medians, ratios and the targets, judged without a database.

Targets: every request within 2x of its small figure and under 50 ms at 2M orders; the audit clean, under
20 s and under 300 MB peak RSS at 2M orders.
"""

import pytest


@pytest.fixture
def scale(scale_module):
    return scale_module


def clean_audit(seconds=3.0, peak_mb=120.0, clean=True):
    return {"seconds": seconds, "peak_mb": peak_mb, "clean": clean, "text": "audit clean"}


def all_fast(scale, small=5.0, large=6.0):
    """Every request at `small` ms on the small database and `large` ms on the large one."""
    return {"small": {key: [small] * 5 for key in scale.LABELS}, "large": {key: [large] * 5 for key in scale.LABELS}}


def report(scale, timings, audits=None, checks=None, plans=None):
    info = {"date": "today", "cores": 2, "cpu": "test", "kernel": "k", "python": "3.11", "postgresql": "15",
            "workers": 5, "threads": 4, "worker_class": "gthread", "loadavg_before": ["0.5"] * 3}
    audits = {"small": clean_audit(), "large": clean_audit()} if audits is None else audits
    return scale.render(info=info, timings=timings, depths={}, audits=audits,
                        seeding={"small": {"orders": 0.1, "total": 0.5}, "large": {"orders": 30.0, "total": 90.0}},
                        checks=checks or [("`page=101` is refused with 422 (large)", True)], plans=plans or {},
                        loadavg_after=["0.6"] * 3)


def row(scale, text, key):
    """The cells of a request's row: label, small, large, ratio, target."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {scale.LABELS[key]} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def verdict(text):
    return text.split("## Verdict", 1)[1].strip()


def test_every_request_within_2x_and_under_50_ms_is_met(scale):
    text = report(scale, all_fast(scale))
    for key in scale.LABELS:
        assert row(scale, text, key)[1:] == ["5.0", "6.0", "1.20x", "met"]
    assert verdict(text) == "Every target met."
    assert scale.misses(all_fast(scale), {"large": clean_audit()}, []) == []


def test_the_figures_are_medians_of_the_samples(scale):
    timings = all_fast(scale)
    timings["small"]["admin_first"] = [40.0, 4.0, 5.0, 6.0, 3.0]  # one slow outlier
    timings["large"]["admin_first"] = [7.0, 9.0, 8.0, 90.0, 2.0]
    assert row(scale, report(scale, timings), "admin_first")[1:] == ["5.0", "8.0", "1.60x", "met"]


def test_a_request_at_2_1_times_its_small_figure_is_not_met_even_when_fast(scale):
    timings = all_fast(scale)
    timings["small"]["buyer_cursor"] = [10.0] * 5
    timings["large"]["buyer_cursor"] = [21.0] * 5
    text = report(scale, timings)
    cells = row(scale, text, "buyer_cursor")
    assert cells[1:4] == ["10.0", "21.0", "2.10x"]
    assert cells[4].startswith("**NOT met**") and "2.10x its small figure" in cells[4]
    assert f"- {scale.LABELS['buyer_cursor']}: 2.10x its small figure (> 2x)" in verdict(text)


def test_a_request_at_51_ms_is_not_met_even_within_2x(scale):
    timings = all_fast(scale)
    timings["small"]["web_admin_orders"] = [50.0] * 5
    timings["large"]["web_admin_orders"] = [51.0] * 5
    text = report(scale, timings)
    cells = row(scale, text, "web_admin_orders")
    assert cells[3] == "1.02x"
    assert cells[4] == "**NOT met**: 51.0 ms (>= 50 ms)"
    assert verdict(text).startswith("1 target(s) missed:")


def test_the_edges_exactly_2x_is_within_and_exactly_50_ms_is_not_under(scale):
    assert scale.judge_request(10.0, 20.0)["met"] is True
    assert scale.judge_request(25.0, 50.0) == {"ratio": 2.0, "met": False, "misses": ["50.0 ms (>= 50 ms)"]}
    assert scale.judge_request(30.0, 49.9)["met"] is True
    missed_both = scale.judge_request(10.0, 300.0)
    assert missed_both["met"] is False and len(missed_both["misses"]) == 2


def test_a_request_measured_at_one_size_only_is_not_judged(scale):
    timings = {"small": {key: [5.0] * 5 for key in scale.LABELS}}
    text = report(scale, timings, audits={"small": clean_audit()})
    assert row(scale, text, "web_machine")[1:] == ["5.0", "", "", "not judged"]
    assert "Audit target: not judged." in text


@pytest.mark.parametrize(
    ("audit", "why"),
    [
        (clean_audit(seconds=21.0), "21.0 s (>= 20 s)"),
        (clean_audit(seconds=20.0), "20.0 s (>= 20 s)"),
        (clean_audit(peak_mb=301.0), "301 MB peak RSS (>= 300 MB)"),
        (clean_audit(clean=False), "not clean"),
    ],
)
def test_an_audit_too_slow_too_big_or_not_clean_is_not_met(scale, audit, why):
    text = report(scale, all_fast(scale), audits={"small": clean_audit(), "large": audit})
    assert f"Audit target: **NOT met**: {why}." in text
    assert f"- flask audit at 2,000,000 orders: {why}" in verdict(text)


def test_an_audit_under_20_s_and_300_mb_is_met(scale):
    text = report(scale, all_fast(scale), audits={"small": clean_audit(), "large": clean_audit(19.9, 299.0)})
    assert "Audit target: met." in text
    assert "| large | 19.9 | 299 | yes |" in text


def test_a_dirty_audit_on_the_small_database_is_a_miss_too(scale):
    text = report(scale, all_fast(scale), audits={"small": clean_audit(clean=False), "large": clean_audit()})
    assert "- flask audit on the small database: not clean" in verdict(text)


def test_a_failed_check_is_a_miss(scale):
    text = report(scale, all_fast(scale), checks=[("`page=101` is refused with 422 (large)", False)])
    assert "- `page=101` is refused with 422 (large): **NO**" in text
    assert "- check failed: `page=101` is refused with 422 (large)" in verdict(text)


def test_plans_of_the_misses_are_in_the_report(scale):
    timings = all_fast(scale)
    timings["large"]["web_seller_sales"] = [120.0] * 5
    text = report(scale, timings, plans={"web_seller_sales": "Aggregate (actual time=0.1..110.0 rows=1 loops=1)"})
    plans = text.split("## Plans of the requests that missed", 1)[1]
    assert f"### {scale.LABELS['web_seller_sales']}" in plans
    assert "Aggregate (actual time=0.1..110.0 rows=1 loops=1)" in plans


def test_seeding_times_are_reported_per_size(scale):
    text = report(scale, all_fast(scale))
    assert "| step | small | large |" in text
    assert "| orders | 0.1 | 30.0 |" in text
    assert "| total | 0.5 | 90.0 |" in text


def test_change_coins_are_the_fewest_and_add_up(scale):
    for cents in range(0, 100, 5):
        coins = scale.change_coins(cents)
        assert sum(coin * count for coin, count in coins.items()) == cents
    assert scale.change_coins(95) == {50: 1, 20: 2, 10: 0, 5: 1}


def test_a_deep_page_is_shown_next_to_page_1_of_its_list(scale):
    timings = all_fast(scale)
    timings["large"]["buyer_first"] = [6.0] * 5
    timings["large"]["buyer_cursor"] = [7.5] * 5
    info = {"date": "today", "cores": 2, "cpu": "test", "kernel": "k", "python": "3.11", "postgresql": "15",
            "workers": 5, "threads": 4, "worker_class": "gthread", "loadavg_before": ["0.5"] * 3}
    text = scale.render(info=info, timings=timings, depths={"large": {"buyer_cursor": "20,000 deep"}},
                        audits={}, seeding={}, checks=[], plans={}, loadavg_after=["0.6"] * 3)
    assert (f"- large, {scale.LABELS['buyer_first'].split(',')[0]}: 20,000 deep "
            "(7.5 ms against 6.0 ms for page 1)") in text.splitlines()
