"""Orderings, keyset cursors and pages: how every list is cut."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID

from wallet_core.errors import FieldError, ValidationFailed

T = TypeVar("T")
SortValue = int | str | datetime | bool
#: Sorts after every real timestamp: where a row has no expiry, it sorts as "never expires".
NEVER = datetime.fromisoformat("9999-12-31T00:00:00+00:00")

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
#: Deep pages are what cursors are for; the bound also keeps offsets within a 64-bit integer.
MAX_PAGE = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Ordering:
    field: str
    descending: bool = False

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.field


def parse_ordering(
    text: str | None, allowed: Mapping[str, str], default: Sequence[Ordering]
) -> tuple[Ordering, ...]:
    """Parse ``"-amount,created_at"``; ``allowed`` maps accepted names (and aliases) to fields."""
    if text is None:
        return tuple(default)
    result: list[Ordering] = []
    for raw in text.split(","):
        name = raw.strip()
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if name not in allowed:
            raise ValidationFailed(
                f"Unknown ordering {raw.strip()!r}; allowed: {', '.join(sorted(set(allowed)))}",
                [FieldError("ordering", f"unknown ordering field {name!r}")],
            )
        field_name = allowed[name]
        if any(o.field == field_name for o in result):
            continue
        result.append(Ordering(field_name, descending))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after the last row of a page: its sort values and id."""

    values: tuple[SortValue, ...]
    id: UUID


@dataclass(frozen=True, slots=True)
class PageRequest:
    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 1
    cursor: Cursor | None = None
    keyset: bool = False

    @property
    def offset(self) -> int:
        return 0 if self.keyset else (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    page_size: int
    count: int | None
    page: int | None
    has_next: bool
    next_cursor: str | None

    @property
    def has_previous(self) -> bool:
        return self.page is not None and self.page > 1


def _ordering_signature(ordering: Sequence[Ordering]) -> str:
    text = ",".join(str(o) for o in ordering)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _encode_value(value: SortValue) -> object:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    return value


def _decode_value(value: object) -> SortValue:
    if isinstance(value, dict) and set(value) == {"dt"} and isinstance(value["dt"], str):
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, int | str | bool):
        return value
    raise ValueError("bad cursor value")


def encode_cursor(cursor: Cursor, ordering: Sequence[Ordering]) -> str:
    payload = {
        "o": _ordering_signature(ordering),
        "v": [_encode_value(v) for v in cursor.values],
        "i": str(cursor.id),
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: The type of each ordering field's cursor value. A cursor is client-supplied text: a value of
#: another type (or out of its column's range) must be a 400 here, not a driver error later.
_CURSOR_KINDS: Mapping[str, type] = {
    "amount": int,
    "balance": int,
    "created_at": datetime,
    "posted_at": datetime,
    "expiry_time": datetime,
    "type": str,
    "status": str,
    "sender_username": str,
    "recipient_username": str,
    "username": str,
    "email": str,
    "is_active": bool,
}
_INT64_LIMIT = 2**63


def _check_cursor_value(value: SortValue, field_name: str) -> SortValue:
    if type(value) is not _CURSOR_KINDS.get(field_name):
        raise ValueError(f"cursor value does not fit {field_name}")
    if isinstance(value, int) and not -_INT64_LIMIT <= value < _INT64_LIMIT:
        raise ValueError("cursor number out of range")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("cursor time without a zone")
        value.astimezone(UTC)  # OverflowError when UTC falls outside years 1-9999
    return value


def decode_cursor(text: str, ordering: Sequence[Ordering]) -> Cursor:
    """Decode a cursor made for the same ordering; anything else is a 400."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw)
        if payload["o"] != _ordering_signature(ordering):
            raise ValueError("cursor made for another ordering")
        values = tuple(_decode_value(v) for v in payload["v"])
        if len(values) != len(ordering):
            raise ValueError("cursor does not fit the ordering")
        values = tuple(
            _check_cursor_value(v, o.field) for v, o in zip(values, ordering, strict=True)
        )
        if not isinstance(payload["i"], str):
            raise ValueError("cursor id is not a string")
        return Cursor(values, UUID(payload["i"]))
    except (
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
        RecursionError,
        binascii.Error,
        UnicodeDecodeError,
    ) as exc:
        raise ValidationFailed(
            "The cursor is invalid or was made for another ordering.",
            [FieldError("cursor", "invalid cursor")],
        ) from exc


def page_request(
    *,
    page: int | None,
    page_size: int | None,
    cursor: str | None,
    ordering: Sequence[Ordering],
    keyset: bool = False,
) -> PageRequest:
    size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    errors = []
    if not 1 <= size <= MAX_PAGE_SIZE:
        errors.append(FieldError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}"))
    if page is not None and not 1 <= page <= MAX_PAGE:
        errors.append(FieldError("page", f"must be between 1 and {MAX_PAGE}"))
    if page is not None and cursor is not None:
        errors.append(FieldError("cursor", "use either page or cursor, not both"))
    if errors:
        raise ValidationFailed("Invalid pagination parameters.", errors)
    if cursor is not None:
        return PageRequest(size, 1, decode_cursor(cursor, ordering), keyset=True)
    return PageRequest(size, page or 1, None, keyset=keyset and page is None)


def paginate(
    rows: Sequence[T],
    request: PageRequest,
    count: int | None,
    ordering: Sequence[Ordering],
    sort_key: Callable[[T], tuple[tuple[SortValue, ...], UUID]],
) -> Page[T]:
    """``rows`` holds up to ``page_size + 1`` rows: the extra one only says more follow."""
    items = tuple(rows[: request.page_size])
    has_next = len(rows) > request.page_size
    next_cursor = None
    if has_next and items:
        values, last_id = sort_key(items[-1])
        next_cursor = encode_cursor(Cursor(values, last_id), ordering)
    return Page(
        items=items,
        page_size=request.page_size,
        count=count,
        page=None if request.keyset else request.page,
        has_next=has_next,
        next_cursor=next_cursor,
    )
