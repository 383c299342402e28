"""Domain objects to response bodies: money as decimal strings in each currency's digits."""

from __future__ import annotations

from entrypoints.http.schemas import (
    BalanceResponse,
    DepositCreated,
    EntryResponse,
    Owner,
    PartyResponse,
    StaffUserResponse,
    StatementResponse,
    TransactionCreated,
    TransactionResponse,
    TransferCreated,
    UserResponse,
    WalletResponse,
    WithdrawalCreated,
)
from wallet_core.ledger import Account, Party, Transaction, TransactionType
from wallet_core.money import Currencies, format_minor
from wallet_core.statements import BalanceAt, Line, Statement
from wallet_core.users import User


def user_body(user: User) -> UserResponse:
    return UserResponse(
        id=user.id,
        email=user.email,
        username=user.username,
        phone_number=user.phone_number,
        first_name=user.first_name,
        last_name=user.last_name,
        date_of_birth=user.date_of_birth,
        is_staff=user.is_staff,
        created_at=user.created_at,
    )


def staff_user_body(user: User) -> StaffUserResponse:
    return StaffUserResponse(
        id=user.id,
        email=user.email,
        username=user.username,
        phone_number=user.phone_number,
        first_name=user.first_name,
        last_name=user.last_name,
        date_of_birth=user.date_of_birth,
        is_staff=user.is_staff,
        created_at=user.created_at,
        is_active=user.is_active,
    )


def wallet_body(wallet: Account, currencies: Currencies) -> WalletResponse:
    assert wallet.owner_id is not None
    unit = currencies.get(wallet.currency)
    return WalletResponse(
        id=wallet.id,
        owner=Owner(wallet.owner_id, wallet.owner_username or ""),
        currency=wallet.currency,
        balance=format_minor(wallet.balance, unit),
        available_balance=format_minor(wallet.available, unit),
        held_balance=format_minor(wallet.held, unit),
        pending_incoming=format_minor(wallet.pending_incoming, unit),
        is_active=wallet.is_active,
        created_at=wallet.created_at,
        updated_at=wallet.updated_at,
    )


def _party(party: Party | None) -> PartyResponse | None:
    if party is None:
        return None
    return PartyResponse(party.user_id, party.username, party.wallet_id)


def transaction_fields(t: Transaction, currencies: Currencies) -> dict[str, object]:
    """Every field but ``type``."""
    return {
        "id": t.id,
        "status": t.status,
        "amount": format_minor(t.amount, currencies.get(t.currency)),
        "currency": t.currency,
        "funding_source": t.funding_source,
        "reference": t.reference,
        "description": t.description,
        "wallet_id": t.wallet_id,
        "counterparty_wallet_id": t.counterparty_wallet_id,
        "sender": _party(t.sender),
        "recipient": _party(t.recipient),
        "metadata": dict(t.metadata),
        "reverses": t.reverses,
        "reversed_amount": format_minor(t.reversed_amount, currencies.get(t.currency)),
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "expires_at": t.expires_at,
        "completed_at": t.completed_at,
    }


def transaction_body(t: Transaction, currencies: Currencies) -> TransactionResponse:
    return TransactionResponse(type=t.type, **transaction_fields(t, currencies))  # type: ignore[arg-type]


def created_body(t: Transaction, currencies: Currencies) -> TransactionCreated:
    """A transfer or deposit just created (a cash-out: :func:`withdrawal_body`)."""
    variant = TransferCreated if t.type is TransactionType.TRANSFER else DepositCreated
    return variant(**transaction_fields(t, currencies))  # type: ignore[arg-type]


def withdrawal_body(t: Transaction, code: str, currencies: Currencies) -> WithdrawalCreated:
    return WithdrawalCreated(**transaction_fields(t, currencies), withdrawal_code=code)  # type: ignore[arg-type]


def entry_body(line: Line, currencies: Currencies) -> EntryResponse:
    unit = currencies.get(line.currency)
    return EntryResponse(
        id=line.id,
        transaction_id=line.transaction_id,
        type=line.type,
        reference=line.reference,
        description=line.description,
        amount=format_minor(line.amount, unit),
        balance_after=format_minor(line.balance_after, unit),
        posted_at=line.posted_at,
    )


def balance_body(found: BalanceAt, currencies: Currencies) -> BalanceResponse:
    wallet = found.wallet
    return BalanceResponse(
        wallet_id=wallet.id,
        currency=wallet.currency,
        at=found.at,
        balance=format_minor(found.balance, currencies.get(wallet.currency)),
    )


def statement_body(statement: Statement, currencies: Currencies) -> StatementResponse:
    wallet = statement.wallet
    unit = currencies.get(wallet.currency)
    return StatementResponse(
        wallet_id=wallet.id,
        currency=wallet.currency,
        start=statement.start,
        end=statement.end,
        opening_balance=format_minor(statement.opening_balance, unit),
        closing_balance=format_minor(statement.closing_balance, unit),
        total_credits=format_minor(statement.totals.credits, unit),
        total_debits=format_minor(statement.totals.debits, unit),
        entry_count=statement.totals.count,
    )
