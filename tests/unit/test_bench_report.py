"""The benchmark's arithmetic: ratios between one run's figures, the targets, the spread."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

# Appended, not inserted: tests/ and bench/ both have a servers module.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import report

FIGURES = {
    "tpcb_tps": 1000.0,
    "pairs_per_s": 300.0,
    "hot_pairs_per_s": 150.0,
    "floor_pairs_per_s": 400.0,
    "sql_floor_pairs_per_s": 500.0,
    "users_me_rps": 1000.0,
    "p99_ms_half_peak": 40.0,
}


def test_every_ratio_divides_the_right_figures() -> None:
    r = report.ratios(FIGURES)
    assert r["pairs_vs_tpcb"] == pytest.approx(0.30)
    assert r["hot_vs_tpcb"] == pytest.approx(0.15)
    assert r["pairs_vs_floor_app"] == pytest.approx(0.75)
    assert r["pairs_vs_sql_floor"] == pytest.approx(0.60)
    assert r["floor_app_vs_tpcb"] == pytest.approx(0.40)
    assert r["floor_app_vs_sql_floor"] == pytest.approx(0.80)
    assert r["sql_floor_vs_tpcb"] == pytest.approx(0.50)
    # A pair is two money requests: 600 requests/s against 1,000 reads/s.
    assert r["money_rps_vs_users_me"] == pytest.approx(0.60)


def test_targets_name_what_was_met_and_what_was_missed() -> None:
    met = {name: ok for name, _, _, ok in report.verdicts(FIGURES)}
    assert met == {
        "pairs_vs_tpcb": True,
        "hot_vs_tpcb": False,  # 15% < 20%
        "pairs_vs_floor_app": False,  # 75% < 80%
        "money_rps_vs_users_me": True,
        "p99_ms_half_peak": True,
    }
    slow = report.verdicts({**FIGURES, "p99_ms_half_peak": 50.0})
    assert [ok for name, _, _, ok in slow if name == "p99_ms_half_peak"] == [False]


def test_a_missing_denominator_is_no_figure_and_no_target_met() -> None:
    figures = {**FIGURES, "floor_pairs_per_s": 0.0}
    assert math.isnan(report.ratios(figures)["pairs_vs_floor_app"])
    met = {name: ok for name, _, _, ok in report.verdicts(figures)}
    assert met["pairs_vs_floor_app"] is False
    assert "n/a" in report.summary(figures)


@given(st.lists(st.floats(min_value=1, max_value=1e5), min_size=1, max_size=7))
def test_the_spread_is_min_median_max_of_each_figure(values: list[float]) -> None:
    runs = [{**FIGURES, "pairs_per_s": v} for v in values]
    low, middle, high = report.spread(runs)["pairs_per_s"]
    assert low == min(values) and high == max(values)
    assert low <= middle <= high
    ratio_low, _, ratio_high = report.spread(runs)["pairs_vs_tpcb"]
    assert ratio_low == pytest.approx(min(values) / 1000)
    assert ratio_high == pytest.approx(max(values) / 1000)


def test_a_run_with_errors_says_so() -> None:
    assert "errors" not in report.summary(FIGURES)
    shown = report.summary({**FIGURES, "errors": {"8 floor app: create + accept": 3}})
    assert "not comparable" in shown and "8 floor app" in shown
