"""Rows to domain objects and back. The domain never sees a record; records never leave here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wallet_core.journal import Receipt
from wallet_core.ledger import (
    Account,
    AccountKind,
    Column,
    Entry,
    FundingSource,
    Party,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from wallet_core.notifications import Notification
from wallet_core.sessions import RefreshToken
from wallet_core.users import User


def _m(row: Any) -> Mapping[str, Any]:
    """A SQLAlchemy row's mapping, or an asyncpg record (already a mapping)."""
    mapping: Mapping[str, Any] = getattr(row, "_mapping", row)
    return mapping


def user_from_row(row: Any) -> User:
    m = _m(row)
    return User(
        id=m["id"],
        email=m["email"],
        username=m["username"],
        phone_number=m["phone_number"],
        password_hash=m["password_hash"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        date_of_birth=m["date_of_birth"],
        is_staff=m["is_staff"],
        is_active=m["is_active"],
    )


def user_to_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "phone_number": user.phone_number,
        "password_hash": user.password_hash,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "date_of_birth": user.date_of_birth,
        "is_staff": user.is_staff,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def account_from_row(row: Any) -> Account:
    m = _m(row)
    return Account(
        id=m["id"],
        kind=AccountKind(m["kind"]),
        currency=m["currency"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        owner_id=m["owner_id"],
        owner_username=m["owner_username"],
        source=FundingSource(m["source"]) if m["source"] else None,
        is_active=m["is_active"],
        debits_posted=m["debits_posted"],
        credits_posted=m["credits_posted"],
        debits_pending=m["debits_pending"],
        credits_pending=m["credits_pending"],
        transaction_count=m["transaction_count"],
    )


def account_to_row(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "kind": account.kind.value,
        "currency": account.currency,
        "owner_id": account.owner_id,
        "owner_username": account.owner_username,
        "source": account.source.value if account.source else None,
        "is_active": account.is_active,
        "debits_posted": account.debits_posted,
        "credits_posted": account.credits_posted,
        "debits_pending": account.debits_pending,
        "credits_pending": account.credits_pending,
        "transaction_count": account.transaction_count,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


def _party(user_id: Any, username: Any, wallet_id: Any) -> Party | None:
    if user_id is None:
        return None
    return Party(user_id, username, wallet_id)


def _metadata(value: Any) -> dict[str, str]:
    """A JSON column's value: decoded by SQLAlchemy, or JSON text from a composite row."""
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


def transaction_from_row(row: Any) -> Transaction:
    m = _m(row)
    return Transaction(
        id=m["id"],
        type=TransactionType(m["type"]),
        status=TransactionStatus(m["status"]),
        amount=m["amount"],
        currency=m["currency"],
        funding_source=FundingSource(m["funding_source"]),
        debit_account_id=m["debit_account_id"],
        credit_account_id=m["credit_account_id"],
        reference=m["reference"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        sender=_party(m["sender_user_id"], m["sender_username"], m["sender_wallet_id"]),
        recipient=_party(m["recipient_user_id"], m["recipient_username"], m["recipient_wallet_id"]),
        description=m["description"],
        provider_id=m["provider_id"],
        expires_at=m["expires_at"],
        completed_at=m["completed_at"],
        code_digest=m["code_digest"],
        failed_attempts=m["failed_attempts"],
        metadata=_metadata(m["metadata"]),
        reverses=m["reverses"],
        reversed_amount=m["reversed_amount"],
    )


def transaction_to_row(t: Transaction) -> dict[str, Any]:
    return {
        "id": t.id,
        "type": t.type.value,
        "status": t.status.value,
        "amount": t.amount,
        "currency": t.currency,
        "funding_source": t.funding_source.value,
        "debit_account_id": t.debit_account_id,
        "credit_account_id": t.credit_account_id,
        "reference": t.reference,
        "description": t.description,
        "provider_id": t.provider_id,
        "sender_user_id": t.sender.user_id if t.sender else None,
        "sender_username": t.sender.username if t.sender else None,
        "sender_wallet_id": t.sender.wallet_id if t.sender else None,
        "recipient_user_id": t.recipient.user_id if t.recipient else None,
        "recipient_username": t.recipient.username if t.recipient else None,
        "recipient_wallet_id": t.recipient.wallet_id if t.recipient else None,
        "expires_at": t.expires_at,
        "completed_at": t.completed_at,
        "code_digest": t.code_digest,
        "failed_attempts": t.failed_attempts,
        "metadata": dict(t.metadata),
        "reverses": t.reverses,
        "reversed_amount": t.reversed_amount,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    }


def entry_to_row(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "transaction_id": entry.transaction_id,
        "account_id": entry.account_id,
        "total": entry.column.value,
        "delta": entry.delta,
        "posted_at": entry.posted_at,
        "balance_after": entry.balance_after,
    }


def entry_from_row(row: Any) -> Entry:
    m = _m(row)
    return Entry(
        id=m["id"],
        transaction_id=m["transaction_id"],
        account_id=m["account_id"],
        column=Column(m["total"]),
        delta=m["delta"],
        posted_at=m["posted_at"],
        balance_after=m["balance_after"],
    )


def refresh_token_from_row(row: Any) -> RefreshToken:
    m = _m(row)
    return RefreshToken(
        id=m["id"],
        family_id=m["family_id"],
        user_id=m["user_id"],
        token_digest=m["token_digest"],
        issued_at=m["issued_at"],
        expires_at=m["expires_at"],
        rotated_at=m["rotated_at"],
        revoked_at=m["revoked_at"],
    )


def refresh_token_to_row(token: RefreshToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "family_id": token.family_id,
        "user_id": token.user_id,
        "token_digest": token.token_digest,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "rotated_at": token.rotated_at,
        "revoked_at": token.revoked_at,
    }


def receipt_to_row(receipt: Receipt) -> dict[str, Any]:
    return {
        "scope": receipt.scope,
        "key": receipt.key,
        "fingerprint": receipt.fingerprint,
        "receipt": receipt.body,
        "created_at": receipt.created_at,
        "expires_at": receipt.expires_at,
    }


def outbox_from_row(row: Any) -> Notification:
    m = _m(row)
    return Notification(
        id=m["id"],
        kind=m["kind"],
        user_id=m["user_id"],
        created_at=m["created_at"],
        payload=dict(m["payload"] or {}),
        dispatched_at=m["dispatched_at"],
        sent_at=m["sent_at"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
    )


def outbox_to_row(event: Notification) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "user_id": event.user_id,
        "payload": dict(event.payload),
        "created_at": event.created_at,
        "dispatched_at": event.dispatched_at,
        "sent_at": event.sent_at,
        "attempts": event.attempts,
        "next_attempt_at": event.next_attempt_at,
    }
