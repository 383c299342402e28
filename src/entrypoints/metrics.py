"""Prometheus metrics (prometheus_client): HTTP requests by route and status, their latency,
requests in flight, and money movements by transaction type and status.

One ``Metrics`` per process. Under ``wallet serve`` the workers share a multiprocess directory
(prometheus_client's ``PROMETHEUS_MULTIPROC_DIR``, which the server creates fresh before its
workers fork): every worker writes its own files there, and a scrape of any worker merges the
files of all of them, those of dead workers included, so counters never go back when a worker
is replaced. Elsewhere (tests, ``wallet worker``) the metrics live on the process's own registry.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from wallet_core.ledger import Transaction

#: prometheus_client's own switch for multiprocess mode; read when it is first imported.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LIVE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


class Metrics:
    def __init__(self, multiprocess_directory: str | None = None) -> None:
        self.multiprocess_directory = multiprocess_directory
        # In multiprocess mode the values go to files and a scrape reads the files: the metric
        # objects need no registry. Otherwise each Metrics has one (two apps in one test process
        # never mix their counts).
        self.registry = None if multiprocess_directory else CollectorRegistry()
        own: dict[str, Any] = {"registry": self.registry}
        self._requests = Counter(
            "wallet_http_requests",
            "HTTP requests by route template and status.",
            ("method", "route", "status"),
            **own,
        )
        self._latency = Histogram(
            "wallet_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ("method", "route"),
            buckets=BUCKETS,
            **own,
        )
        self._in_flight = Gauge(
            "wallet_http_requests_in_flight",
            "HTTP requests being served now.",
            multiprocess_mode="livesum",
            **own,
        )
        self._movements = Counter(
            "wallet_money_movements",
            "Money movements by transaction type and the status they reached.",
            ("type", "status"),
            **own,
        )

    @classmethod
    def for_this_process(cls) -> Metrics:
        """Shared with the sibling workers when the server set up a multiprocess directory."""
        return cls(os.environ.get(MULTIPROCESS_DIRECTORY) or None)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(seconds)

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        self._in_flight.inc()
        try:
            yield
        finally:
            self._in_flight.dec()

    def count_movement(self, type_: str, status: str, amount: int = 1) -> None:
        """A transaction reached ``status`` (``transfer``/``pending``, ``deposit``/``completed``,
        ``withdrawal``/``expired``...), whichever entrypoint moved it."""
        self._movements.labels(type_, status).inc(amount)

    def count(self, transaction: Transaction) -> None:
        """The core's MovementCounter: a transaction was created or reached a new status."""
        self.count_movement(transaction.type.value, transaction.status.value)

    def render(self) -> bytes:
        """The Prometheus text format: this process's registry, or every worker's files."""
        if self.registry is not None:
            return generate_latest(self.registry)
        assert self.multiprocess_directory is not None
        forget_dead_processes(self.multiprocess_directory)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of workers that are gone (prometheus_client's ``mark_process_dead``,
    which a process manager would call when a child exits; granian has no such hook, so every
    scrape does it). Their counters and histograms stay: the totals keep what they counted."""
    pids = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_FILE.match(os.path.basename(path))
        if match:
            pids.add(int(match[1]))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
