"""The money path's figures, their ratios and targets; and the spread over several runs.

    uv run python bench/report.py RUN1.json RUN2.json ...   (files written by run.py --json)

Absolute figures swing with whatever else the machine runs, so the targets are ratios between
figures measured in the same run.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

FIGURES = (
    "tpcb_tps",
    "pairs_per_s",
    "hot_pairs_per_s",
    "floor_pairs_per_s",
    "sql_floor_pairs_per_s",
    "users_me_rps",
    "p99_ms_half_peak",
)

#: (ratio or figure, comparison, bound): what the money path must reach, in the same run.
TARGETS = (
    ("pairs_vs_tpcb", ">=", 0.25),
    ("hot_vs_tpcb", ">=", 0.20),
    ("pairs_vs_floor_app", ">=", 0.80),
    ("money_rps_vs_users_me", ">=", 0.50),
    ("p99_ms_half_peak", "<", 50.0),
)


def _over(a: float, b: float) -> float:
    return a / b if b else math.nan


def ratios(f: dict[str, float]) -> dict[str, float]:
    """Every ratio between the run's figures (a money pair is two requests)."""
    pairs, tpcb = f["pairs_per_s"], f["tpcb_tps"]
    return {
        "pairs_vs_tpcb": _over(pairs, tpcb),
        "hot_vs_tpcb": _over(f["hot_pairs_per_s"], tpcb),
        "pairs_vs_floor_app": _over(pairs, f["floor_pairs_per_s"]),
        "pairs_vs_sql_floor": _over(pairs, f["sql_floor_pairs_per_s"]),
        "floor_app_vs_tpcb": _over(f["floor_pairs_per_s"], tpcb),
        "floor_app_vs_sql_floor": _over(f["floor_pairs_per_s"], f["sql_floor_pairs_per_s"]),
        "sql_floor_vs_tpcb": _over(f["sql_floor_pairs_per_s"], tpcb),
        "money_rps_vs_users_me": _over(2 * pairs, f["users_me_rps"]),
    }


def verdicts(f: dict[str, float]) -> list[tuple[str, float, str, bool]]:
    """(name, value, target, met) for each target."""
    values = {**f, **ratios(f)}
    found = []
    for name, comparison, bound in TARGETS:
        value = values[name]
        met = value >= bound if comparison == ">=" else value < bound
        found.append((name, value, f"{comparison} {bound:g}", met and not math.isnan(value)))
    return found


def _show(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if "_vs_" in name:
        return f"{value:.0%}"
    return f"{value:.1f}" if name.startswith("p99") or value < 100 else f"{value:.0f}"


def summary(f: dict[str, Any]) -> str:
    lines = ["figures:"]
    lines += [f"  {name:<28} {_show(name, f[name]):>10}" for name in FIGURES]
    lines.append("ratios (same run):")
    lines += [f"  {name:<28} {_show(name, v):>10}" for name, v in ratios(f).items()]
    lines.append("targets:")
    for name, value, target, met in verdicts(f):
        lines.append(
            f"  {name:<28} {_show(name, value):>10}  {target:<8} {'met' if met else 'MISSED'}"
        )
    errors = f.get("errors") or {}
    if errors:
        lines.append("errors (a scenario with errors is not comparable):")
        lines += [f"  {name:<46} {count:>6}" for name, count in errors.items()]
    cpu = f.get("cpu_ms_per_pair") or {}
    if cpu:
        lines.append("CPU per pair (ms):")
        lines += [f"  {name:<28} {value:>10.2f}" for name, value in cpu.items()]
    return "\n".join(lines)


def spread(runs: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """(min, median, max) of every figure, ratio and CPU figure over the runs."""
    columns: dict[str, list[float]] = {}
    for run in runs:
        values = {name: run[name] for name in FIGURES}
        values.update(ratios(values))
        values.update({f"cpu {k}": v for k, v in (run.get("cpu_ms_per_pair") or {}).items()})
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
    return {
        name: (min(vs), statistics.median(vs), max(vs))
        for name, vs in columns.items()
        if not any(math.isnan(v) for v in vs)
    }


def main(paths: list[str]) -> None:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    print(f"{len(runs)} runs: {'name':<26} {'min':>8} {'median':>8} {'max':>8}")
    for name, (low, middle, high) in spread(runs).items():
        shown = [_show(name.removeprefix("cpu "), v) for v in (low, middle, high)]
        print(f"  {name:<34} {shown[0]:>8} {shown[1]:>8} {shown[2]:>8}")


if __name__ == "__main__":
    main(sys.argv[1:])
