"""The wall clock, behind the core's ``Clock`` port so tests can substitute a manual one."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        """Always timezone-aware UTC: naive datetimes would compare wrongly with stored ones."""
        return datetime.now(UTC)
