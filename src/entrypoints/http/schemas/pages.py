"""The paginated lists."""

from __future__ import annotations

import msgspec

from entrypoints.http.schemas.statements import EntryResponse
from entrypoints.http.schemas.transactions import TransactionResponse
from entrypoints.http.schemas.users import UserResponse
from entrypoints.http.schemas.wallets import WalletResponse


class UserPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[UserResponse]
    next_cursor: str | None = None


class WalletPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[WalletResponse]
    next_cursor: str | None = None


class EntryPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[EntryResponse]
    next_cursor: str | None = None


class TransactionPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[TransactionResponse]
    next_cursor: str | None = None
