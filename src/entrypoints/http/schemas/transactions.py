"""Transaction bodies: what creates one, what acts on one, and what a transaction looks like."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from entrypoints.http.schemas.fields import NO_NUL, NOT_BLANK, Amount, Description, Metadata, Strict
from wallet_core.ledger import FundingSource, TransactionStatus, TransactionType


class TransferCreate(Strict, tag="transfer", tag_field="type"):
    amount: Amount
    recipient: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=255,
            pattern=NO_NUL,
            description="A username, an E.164 phone number or a wallet id.",
        ),
    ]
    wallet_id: UUID | None = None
    description: Description | None = None
    metadata: Metadata | None = None


class WithdrawalCreate(Strict, tag="withdrawal", tag_field="type"):
    amount: Amount
    wallet_id: UUID | None = None
    description: Description | None = None
    metadata: Metadata | None = None


class DepositCreate(Strict, tag="deposit", tag_field="type"):
    amount: Amount
    wallet_id: UUID
    funding_source: Literal["manual"] = "manual"
    description: Description | None = None
    metadata: Metadata | None = None


TransactionCreate = TransferCreate | WithdrawalCreate | DepositCreate


class TransactionAction(Strict):
    action: Literal["accept", "reject", "cancel"]


class ReversalRequest(Strict):
    """Staff only. ``amount`` defaults to what is left to reverse."""

    reason: Annotated[str, Meta(min_length=1, max_length=140, pattern=NOT_BLANK)]
    amount: Amount | None = None


class PartyResponse(msgspec.Struct):
    user_id: UUID
    username: str
    wallet_id: UUID


class _Transaction(msgspec.Struct, kw_only=True):
    """Every transaction's fields but ``type``, which names the variant of a created one."""

    id: UUID
    status: TransactionStatus
    amount: str
    currency: str
    funding_source: FundingSource
    reference: str
    description: str
    wallet_id: UUID
    counterparty_wallet_id: UUID | None
    sender: PartyResponse | None
    recipient: PartyResponse | None
    metadata: dict[str, str]
    #: For a reversal, the transaction it reverses.
    reverses: UUID | None
    #: How much of this transaction has been reversed so far.
    reversed_amount: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    completed_at: datetime | None


class TransactionResponse(_Transaction, kw_only=True):
    type: TransactionType


class TransferCreated(_Transaction, tag="transfer", tag_field="type", kw_only=True):
    """A transfer just sent: pending, its amount held on the sender's wallet."""


class WithdrawalCreated(_Transaction, tag="withdrawal", tag_field="type", kw_only=True):
    """A cash-out just requested: pending, with the one-time code the ATM asks for."""

    withdrawal_code: str


class DepositCreated(_Transaction, tag="deposit", tag_field="type", kw_only=True):
    """A staff deposit: completed at once."""


#: The 201 of ``POST /wallet/transactions``, discriminated by ``type``.
TransactionCreated = TransferCreated | WithdrawalCreated | DepositCreated
