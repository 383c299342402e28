"""A small Prometheus text-format registry: request counts and latency by route and status, and
money movements by type and status. Per process (each server worker reports its own)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner + "}"


@dataclass
class Metrics:
    requests: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    latency_buckets: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    latency_sum: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    latency_count: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    movements: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, str(status))] += 1
        key = (method, route)
        buckets = self.latency_buckets.setdefault(key, [0] * len(BUCKETS))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
        self.latency_sum[key] += seconds
        self.latency_count[key] += 1

    def count_movement(self, kind: str, status: str) -> None:
        self.movements[(kind, status)] += 1

    def render(self) -> str:
        lines = [
            "# HELP wallet_http_requests_total HTTP requests by route and status.",
            "# TYPE wallet_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            labels = _labels(method=method, route=route, status=status)
            lines.append(f"wallet_http_requests_total{labels} {n}")
        lines += [
            "# HELP wallet_http_request_duration_seconds HTTP request latency by route.",
            "# TYPE wallet_http_request_duration_seconds histogram",
        ]
        for (method, route), buckets in sorted(self.latency_buckets.items()):
            for bound, n in zip(BUCKETS, buckets, strict=True):
                labels = _labels(method=method, route=route, le=str(bound))
                lines.append(f"wallet_http_request_duration_seconds_bucket{labels} {n}")
            count = self.latency_count[(method, route)]
            labels = _labels(method=method, route=route, le="+Inf")
            lines.append(f"wallet_http_request_duration_seconds_bucket{labels} {count}")
            base = _labels(method=method, route=route)
            total = self.latency_sum[(method, route)]
            lines.append(f"wallet_http_request_duration_seconds_sum{base} {total}")
            lines.append(f"wallet_http_request_duration_seconds_count{base} {count}")
        lines += [
            "# HELP wallet_money_movements_total Money movements by transaction type and status.",
            "# TYPE wallet_money_movements_total counter",
        ]
        for (kind, status), n in sorted(self.movements.items()):
            lines.append(f"wallet_money_movements_total{_labels(type=kind, status=status)} {n}")
        return "\n".join(lines) + "\n"
