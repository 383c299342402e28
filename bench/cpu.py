"""CPU time of groups of processes over a window, from ``/proc/<pid>/stat`` (user + system).

A ``Sampler`` polls while a scenario runs, so processes that start and end inside the window
(pgbench's backends) still count: a process seen at the start counts from its CPU then, one
that appears later counts from zero.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return found


def backends(database: str) -> list[int]:
    """PostgreSQL backends connected to ``database`` (by their process title)."""
    marker = f" {database} ".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and marker in title:
            found.append(int(entry.name))
    return found


class Sampler:
    """CPU seconds used by ``select()``'s processes between ``start()`` and ``stop()``."""

    def __init__(self, select: Callable[[], list[int]], interval: float = 0.25) -> None:
        self._select, self._interval = select, interval
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _poll(self, *, initial: bool = False) -> None:
        for pid in self._select():
            seconds = cpu_seconds(pid)
            if seconds is None:
                continue
            self._first.setdefault(pid, seconds if initial else 0.0)
            self._last[pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()

    def start(self) -> Sampler:
        self._poll(initial=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._poll()
        return sum(self._last[pid] - first for pid, first in self._first.items())
