"""Who a transfer goes to: the contract's rules for a ``recipient`` reference (a wallet id, a
phone number or a username) and the default wallets, as pure functions over one read."""

from __future__ import annotations

import re
from uuid import UUID

from wallet_core.errors import (
    CurrencyMismatch,
    NotFound,
    RecipientNotFound,
    SameWallet,
    ValidationFailed,
)
from wallet_core.ledger import Account
from wallet_core.snapshots import Candidate, RecipientQuery, TransactionParties
from wallet_core.users import normalize_phone

_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ().-]{6,}$")


def recipient_query(reference: str) -> RecipientQuery:
    """A wallet id names a wallet and nothing else; a phone-like reference is tried as a phone
    number, then as a username; anything else is a username."""
    ref = reference.strip()
    try:
        return RecipientQuery(wallet_id=UUID(ref))
    except ValueError:
        pass
    phone = None
    if _PHONE_LIKE.match(ref):
        try:
            phone = normalize_phone(ref, "recipient")
        except ValidationFailed:
            phone = None
    return RecipientQuery(phone_number=phone, username=ref)


def _recipient(
    query: RecipientQuery, parties: TransactionParties
) -> tuple[Candidate, Account | None]:
    """The recipient and, when the reference named one, their wallet."""
    if query.wallet_id is not None:
        wallet = parties.named_wallet
        if wallet is None or not wallet.is_wallet or parties.by_wallet is None:
            raise RecipientNotFound("No wallet with this id.")
        owner: Candidate | None = parties.by_wallet
    else:
        wallet = None
        owner = parties.by_phone or parties.by_username
    if owner is None or not owner.is_active:
        raise RecipientNotFound("No active user matches this recipient.")
    return owner, wallet


def resolve_pair(
    sender_id: UUID,
    query: RecipientQuery,
    parties: TransactionParties,
    wallet_id: UUID | None,
) -> tuple[Account, Account]:
    """The sender's source wallet and the recipient's wallet, by the contract's defaults: the
    source is ``wallet_id`` or the sender's wallet in the recipient wallet's currency; the target
    is the named wallet, or the recipient's wallet in the source's currency, or their first."""
    source: Account | None = None
    if wallet_id is not None:
        source = next((w for w in parties.sender_wallets if w.id == wallet_id), None)
        if source is None:
            raise NotFound("Wallet not found.")
    owner, target = _recipient(query, parties)
    if target is None:
        if source is not None:
            target = next((w for w in owner.wallets if w.currency == source.currency), None)
            if target is None:
                if owner.user_id == sender_id:
                    raise SameWallet("A transfer needs two different wallets.")
                raise CurrencyMismatch(f"{owner.username} has no {source.currency} wallet.")
        elif owner.wallets:
            target = owner.wallets[0]
        else:
            raise RecipientNotFound(f"{owner.username} has no wallet.")
    if source is None:
        source = next((w for w in parties.sender_wallets if w.currency == target.currency), None)
        if source is None:
            raise CurrencyMismatch(f"You have no {target.currency} wallet to send from.")
    if source.id == target.id:
        raise SameWallet("A transfer needs two different wallets.")
    if source.currency != target.currency:
        raise CurrencyMismatch(f"Cannot send {source.currency} to a {target.currency} wallet.")
    return source, target
