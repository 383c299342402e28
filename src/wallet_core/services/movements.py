"""Shared steps of money-moving use cases: load and lock, record a movement, write events."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from wallet_core.errors import InsufficientFunds, NotFound, WalletFrozen
from wallet_core.ledger import Account, Movement, Transfer, TransferType
from wallet_core.money import Money, format_minor
from wallet_core.ports import UnitOfWork
from wallet_core.records import Notification
from wallet_core.services.context import Context

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_REFERENCE_PREFIX = {
    TransferType.DEPOSIT: "DEP",
    TransferType.TRANSFER: "TRF",
    TransferType.WITHDRAWAL: "WDR",
}


def new_reference(kind: TransferType) -> str:
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))
    return f"{_REFERENCE_PREFIX[kind]}-{body}"


async def lock_accounts(uow: UnitOfWork, *account_ids: UUID) -> dict[UUID, Account]:
    accounts = await uow.accounts.lock(account_ids)
    missing = [a for a in account_ids if a not in accounts]
    if missing:
        raise NotFound("Wallet not found.")
    return accounts


def ensure_funds(wallet: Account, money: Money) -> None:
    """The client-facing insufficient-funds answer, in money (the ledger re-checks anyway)."""
    if wallet.is_wallet and wallet.available < money.minor:
        available = Money(wallet.available, money.currency)
        raise InsufficientFunds(f"Insufficient funds: available {available}, requested {money}")


def require_active(*wallets: Account) -> None:
    for wallet in wallets:
        if wallet.is_wallet and not wallet.is_active:
            raise WalletFrozen(f"Wallet {wallet.id} is frozen.")


async def record(
    uow: UnitOfWork,
    ctx: Context,
    transfer: Transfer,
    movement: Movement,
    now: datetime,
    locked: dict[UUID, Account] | None = None,
) -> None:
    """Persist a movement: the accounts' new totals and the entries that explain them.

    ``locked``, when given, is the unit of work's view of locked accounts; it is kept current so
    several movements on one account in one unit of work build on each other.
    """
    await uow.accounts.save(movement.accounts)
    if locked is not None:
        locked.update((a.id, a) for a in movement.accounts)
    ids = [ctx.ids.new_id() for _ in movement.lines]
    await uow.entries.add_many(movement.entries(transfer.id, ids, now))


def notification(
    ctx: Context,
    kind: str,
    user_id: UUID,
    transfer: Transfer,
    now: datetime,
    extra: Mapping[str, str] | None = None,
) -> Notification:
    """A notification with a snapshot of what the email needs (so it reads as of the change)."""
    payload = {
        "transfer_id": str(transfer.id),
        "reference": transfer.reference,
        "type": transfer.type.value,
        "status": transfer.status.value,
        "amount": format_minor(transfer.amount, ctx.currencies.get(transfer.currency)),
        "currency": transfer.currency,
        "sender": transfer.sender.username if transfer.sender else "",
        "recipient": transfer.recipient.username if transfer.recipient else "",
        "description": transfer.description,
        "expires_at": transfer.expires_at.isoformat() if transfer.expires_at else "",
    }
    payload.update(extra or {})
    return Notification(
        id=ctx.ids.new_id(), kind=kind, user_id=user_id, created_at=now, payload=payload
    )
