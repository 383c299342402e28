"""What each list filters and sorts by, and the in-memory sorting that matches SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from wallet_core.ledger import (
    Account,
    FundingSource,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from wallet_core.queries.paging import NEVER, Cursor, Ordering, PageRequest, SortValue, T
from wallet_core.users import User

TRANSACTION_ORDERINGS: Mapping[str, str] = {
    "amount": "amount",
    "created_at": "created_at",
    "expiry_time": "expiry_time",
    "type": "type",
    "transaction_type": "type",
    "status": "status",
    "sender_username": "sender_username",
    "recipient_username": "recipient_username",
}
DEFAULT_TRANSACTION_ORDERING = (Ordering("created_at", descending=True),)


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Filters on transactions; user references are already resolved to user ids."""

    viewer_id: UUID | None = None  # None: staff, sees everything
    amount_min: int | None = None
    amount_max: int | None = None
    types: frozenset[TransactionType] = frozenset()
    statuses: frozenset[TransactionStatus] = frozenset()
    funding_sources: frozenset[FundingSource] = frozenset()
    currency: str | None = None
    wallet_id: UUID | None = None
    text: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    expires_after: datetime | None = None
    expires_before: datetime | None = None
    is_expired: bool | None = None
    now: datetime | None = None
    sender_id: UUID | None = None
    recipient_id: UUID | None = None
    involving_id: UUID | None = None
    direction: str | None = None
    caller_id: UUID | None = None  # whom ``direction`` is relative to
    #: ``metadata[key]=value`` filters, all of which must match.
    metadata: tuple[tuple[str, str], ...] = ()
    matches_nothing: bool = False

    @property
    def is_viewer_only(self) -> bool:
        """All of one viewer's transactions, no other filter: counted from the ledger's
        per-account transfer counts instead of by scanning the transactions."""
        plain = replace(self, viewer_id=None, now=None, caller_id=None)
        return self.viewer_id is not None and plain == TransactionFilter()


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    filter: TransactionFilter
    ordering: tuple[Ordering, ...] = DEFAULT_TRANSACTION_ORDERING
    page: PageRequest = field(default_factory=PageRequest)


WALLET_ORDERINGS: Mapping[str, str] = {
    "balance": "balance",
    "created_at": "created_at",
    "username": "username",
    "is_active": "is_active",
}
DEFAULT_WALLET_ORDERING = (Ordering("created_at"),)


@dataclass(frozen=True, slots=True)
class WalletFilter:
    viewer_id: UUID | None = None
    owner_id: UUID | None = None
    currency: str | None = None
    balance_min: int | None = None
    balance_max: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    is_active: bool | None = None
    matches_nothing: bool = False


@dataclass(frozen=True, slots=True)
class WalletQuery:
    filter: WalletFilter
    ordering: tuple[Ordering, ...] = DEFAULT_WALLET_ORDERING
    page: PageRequest = field(default_factory=PageRequest)


USER_ORDERINGS: Mapping[str, str] = {
    "created_at": "created_at",
    "username": "username",
    "email": "email",
}
DEFAULT_USER_ORDERING = (Ordering("created_at"),)


@dataclass(frozen=True, slots=True)
class UserFilter:
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_staff: bool | None = None
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class UserQuery:
    filter: UserFilter
    ordering: tuple[Ordering, ...] = DEFAULT_USER_ORDERING
    page: PageRequest = field(default_factory=PageRequest)


def transaction_sort_value(transaction: Transaction, name: str) -> SortValue:
    if name == "amount":
        return transaction.amount
    if name == "created_at":
        return transaction.created_at
    if name == "expiry_time":
        return transaction.expires_at or NEVER
    if name == "type":
        return transaction.type.value
    if name == "status":
        return transaction.status.value
    if name == "sender_username":
        return transaction.sender.username if transaction.sender else ""
    if name == "recipient_username":
        return transaction.recipient.username if transaction.recipient else ""
    raise KeyError(name)


def wallet_sort_value(account: Account, name: str) -> SortValue:
    if name == "balance":
        return account.balance
    if name == "created_at":
        return account.created_at
    if name == "username":
        return account.owner_username or ""
    if name == "is_active":
        return account.is_active
    raise KeyError(name)


def user_sort_value(user: User, name: str) -> SortValue:
    if name == "created_at":
        return user.created_at
    if name == "username":
        return user.username
    if name == "email":
        return user.email
    raise KeyError(name)


def sort_key_for(
    value: Callable[[T, str], SortValue], ordering: Sequence[Ordering], id_of: Callable[[T], UUID]
) -> Callable[[T], tuple[tuple[SortValue, ...], UUID]]:
    def key(row: T) -> tuple[tuple[SortValue, ...], UUID]:
        return tuple(value(row, o.field) for o in ordering), id_of(row)

    return key


def sort_rows(
    rows: Iterable[T],
    ordering: Sequence[Ordering],
    value: Callable[[T, str], SortValue],
    id_of: Callable[[T], UUID],
) -> list[T]:
    """Sort like SQL ``ORDER BY k1 [DESC], ..., id`` (id follows the last key's direction)."""
    result = list(rows)
    last_desc = ordering[-1].descending if ordering else False
    result.sort(key=lambda r: id_of(r).bytes, reverse=last_desc)
    for o in reversed(ordering):
        result.sort(key=lambda r, name=o.field: value(r, name), reverse=o.descending)  # type: ignore[misc]
    return result


def after_cursor(
    rows: Iterable[T],
    cursor: Cursor,
    ordering: Sequence[Ordering],
    value: Callable[[T, str], SortValue],
    id_of: Callable[[T], UUID],
) -> list[T]:
    """The rows strictly after ``cursor`` in ``ordering`` (the keyset predicate, in Python)."""
    directions = [o.descending for o in ordering] + [ordering[-1].descending if ordering else False]

    def is_after(row: T) -> bool:
        mine: list[object] = [value(row, o.field) for o in ordering] + [id_of(row).bytes]
        theirs: list[object] = [*cursor.values, cursor.id.bytes]
        for a, b, desc in zip(mine, theirs, directions, strict=True):
            if a == b:
                continue
            return bool(a < b) if desc else bool(a > b)  # type: ignore[operator]
        return False

    return [r for r in rows if is_after(r)]
