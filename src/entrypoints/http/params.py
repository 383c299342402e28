"""Query-parameter parsing the framework does not do the way the contract wants."""

from __future__ import annotations

from datetime import UTC, datetime

from wallet_core.errors import FieldError, UnsupportedCurrency, ValidationFailed
from wallet_core.money import Currencies


def instant(name: str, value: str | None) -> datetime | None:
    """RFC 3339 timestamps or plain dates; no zone means UTC."""
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        # An offset can push a valid local time out of datetime's range in UTC (OverflowError).
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationFailed(
            f"{name} must be an RFC 3339 timestamp or a date, got {value!r}.",
            [FieldError(name, "not a timestamp")],
        ) from None


def currency(name: str, value: str | None, currencies: Currencies) -> str | None:
    """A currency filter: an unknown code is a bad query parameter (400), not a 422."""
    if value is None or not value.strip():
        return None
    try:
        return currencies.get(value).code
    except UnsupportedCurrency as exc:
        raise ValidationFailed(exc.message, [FieldError(name, exc.message)]) from None


def flag(name: str, value: str | None) -> bool | None:
    if value is None or not value.strip():
        return None
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValidationFailed(f"{name} must be true or false.", [FieldError(name, "not a boolean")])


def comma_values(*values: list[str] | str | None) -> list[str]:
    """Repeated and/or comma-separated query values, one list (``type=a,b&type=c`` -> a, b, c);
    an empty value stays, so the core can call it unknown."""
    found: list[str] = []
    for group in values:
        if group is None:
            continue
        for item in [group] if isinstance(group, str) else group:
            found += [v.strip() for v in item.split(",")]
    return found
