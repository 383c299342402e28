"""Entries, balances at an instant and statements."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from wallet_core.ledger import TransactionType


class EntryResponse(msgspec.Struct):
    id: UUID
    transaction_id: UUID
    type: TransactionType
    reference: str
    description: str
    #: Signed: "-25.50" for a debit, "100.00" for a credit.
    amount: str
    balance_after: str
    posted_at: datetime


class BalanceResponse(msgspec.Struct):
    wallet_id: UUID
    currency: str
    at: datetime
    balance: str


class StatementResponse(msgspec.Struct, rename={"start": "from", "end": "to"}):
    wallet_id: UUID
    currency: str
    start: datetime
    end: datetime
    opening_balance: str
    closing_balance: str
    total_credits: str
    total_debits: str
    entry_count: int
