"""Wallet bodies."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from entrypoints.http.schemas.fields import CurrencyCode, Strict
from entrypoints.http.schemas.users import UserResponse


class Owner(msgspec.Struct):
    id: UUID
    username: str


class WalletResponse(msgspec.Struct):
    id: UUID
    owner: Owner
    currency: str
    balance: str
    available_balance: str
    held_balance: str
    pending_incoming: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class RegisterResponse(msgspec.Struct):
    user: UserResponse
    wallet: WalletResponse


class OpenWalletRequest(Strict):
    currency: CurrencyCode


class WalletUpdate(Strict):
    is_active: bool
