"""Setting value types and defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Literal

Network = IPv4Network | IPv6Network
Environment = Literal["development", "production", "test"]
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./wallet.db"
DEFAULT_CURRENCIES = "USD:2,EUR:2,GBP:2,LBP:2"


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    amount: int
    per: str  # second | minute | hour | day

    @property
    def seconds(self) -> int:
        return {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[self.per]

    def __str__(self) -> str:
        return f"{self.amount}/{self.per}"
