"""The ledger's pure functions: accounts, the four movements, their entries and invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from wallet_core.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    LedgerInvariantViolated,
    NotPending,
    SameWallet,
)
from wallet_core.ledger import (
    VOID_STATUSES,
    Account,
    AccountKind,
    Column,
    FundingSource,
    Movement,
    Party,
    Transaction,
    TransactionStatus,
    TransactionType,
    open_pending,
    post_direct,
    post_pending,
    void_pending,
)
from wallet_core.money import MAX_MINOR_TOTAL

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def wallet(currency: str = "USD", *, balance: int = 0, held: int = 0, incoming: int = 0) -> Account:
    return Account(
        id=uuid4(),
        kind=AccountKind.WALLET,
        currency=currency,
        created_at=T0,
        updated_at=T0,
        owner_id=uuid4(),
        owner_username="someone",
        credits_posted=balance,
        debits_pending=held,
        credits_pending=incoming,
    )


def system(currency: str = "USD", source: FundingSource = FundingSource.MANUAL) -> Account:
    return Account(
        id=uuid4(),
        kind=AccountKind.SYSTEM,
        currency=currency,
        created_at=T0,
        updated_at=T0,
        source=source,
    )


def by_id(movement: Movement) -> dict[UUID, Account]:
    return {a.id: a for a in movement.accounts}


def totals(account: Account) -> tuple[int, int, int, int]:
    return (
        account.debits_posted,
        account.credits_posted,
        account.debits_pending,
        account.credits_pending,
    )


# Accounts -------------------------------------------------------------------------------------


def test_account_derived_amounts() -> None:
    account = replace(
        wallet(), debits_posted=300, credits_posted=1000, debits_pending=200, credits_pending=50
    )
    assert account.balance == 700
    assert account.held == 200
    assert account.available == 500
    assert account.pending_incoming == 50
    assert account.is_wallet
    assert not system().is_wallet
    assert [account.total(c) for c in Column] == [300, 1000, 200, 50]


def test_moved_changes_one_column_and_stamps_the_time() -> None:
    account = wallet(balance=100)
    moved = account.moved(Column.DEBITS_PENDING, 40, T1)
    assert totals(moved) == (0, 100, 40, 0)
    assert moved.updated_at == T1
    assert totals(account) == (0, 100, 0, 0)  # accounts are immutable values


@pytest.mark.parametrize(("start", "delta"), [(0, -1), (10, -11)])
def test_moved_refuses_negative_totals(start: int, delta: int) -> None:
    account = replace(wallet(), credits_posted=start)
    with pytest.raises(LedgerInvariantViolated):
        account.moved(Column.CREDITS_POSTED, delta, T1)


def test_moved_refuses_a_total_too_large_to_store_as_a_client_error() -> None:
    account = replace(wallet(), credits_posted=MAX_MINOR_TOTAL - 1)
    with pytest.raises(InvalidAmount):
        account.moved(Column.CREDITS_POSTED, 1, T1)


def test_check_invariants() -> None:
    wallet(balance=10, held=10).check_invariants()
    with pytest.raises(LedgerInvariantViolated, match="overdrawn"):
        wallet(balance=10, held=11).check_invariants()
    overdrawn_system = replace(system(), debits_posted=500)
    overdrawn_system.check_invariants()  # system accounts may go negative
    with pytest.raises(LedgerInvariantViolated, match="negative"):
        replace(wallet(), credits_pending=-1).check_invariants()
    with pytest.raises(LedgerInvariantViolated, match="negative"):
        replace(system(), debits_posted=-1).check_invariants()


# The four movements ---------------------------------------------------------------------------


def test_open_pending_holds_on_the_debit_and_shows_pending_on_the_credit() -> None:
    sender, recipient = wallet(balance=1000), wallet()
    movement = open_pending(sender, recipient, 300, T1)
    after = by_id(movement)
    assert totals(after[sender.id]) == (0, 1000, 300, 0)
    assert totals(after[recipient.id]) == (0, 0, 0, 300)
    assert after[sender.id].available == 700
    assert after[sender.id].balance == 1000
    assert after[recipient.id].balance == 0
    assert after[recipient.id].pending_incoming == 300
    assert movement.lines == (
        (sender.id, Column.DEBITS_PENDING, 300),
        (recipient.id, Column.CREDITS_PENDING, 300),
    )
    assert all(a.updated_at == T1 for a in movement.accounts)


def test_open_pending_may_use_exactly_the_available_balance() -> None:
    sender = wallet(balance=1000, held=400)
    after = by_id(open_pending(sender, wallet(), 600, T1))
    assert after[sender.id].available == 0


def test_open_pending_refuses_more_than_available() -> None:
    sender = wallet(balance=1000, held=400)
    with pytest.raises(InsufficientFunds) as caught:
        open_pending(sender, wallet(), 601, T1)
    assert caught.value.code == "insufficient_funds"


def test_open_pending_toward_a_system_sink() -> None:
    sender, sink = wallet(balance=500), system(source=FundingSource.BLF_ATM)
    after = by_id(open_pending(sender, sink, 500, T1))
    assert totals(after[sink.id]) == (0, 0, 0, 500)
    assert after[sender.id].available == 0


def test_post_pending_settles_the_hold_on_both_sides() -> None:
    sender, recipient = wallet(balance=1000), wallet()
    held = by_id(open_pending(sender, recipient, 300, T0))
    movement = post_pending(held[sender.id], held[recipient.id], 300, T1)
    after = by_id(movement)
    assert totals(after[sender.id]) == (300, 1000, 0, 0)
    assert totals(after[recipient.id]) == (0, 300, 0, 0)
    assert after[sender.id].balance == 700
    assert after[recipient.id].balance == 300
    assert movement.lines == (
        (sender.id, Column.DEBITS_PENDING, -300),
        (sender.id, Column.DEBITS_POSTED, 300),
        (recipient.id, Column.CREDITS_PENDING, -300),
        (recipient.id, Column.CREDITS_POSTED, 300),
    )


def test_void_pending_releases_the_hold_and_nothing_else() -> None:
    sender, recipient = wallet(balance=1000), wallet(balance=5)
    held = by_id(open_pending(sender, recipient, 300, T0))
    movement = void_pending(held[sender.id], held[recipient.id], 300, T1)
    after = by_id(movement)
    assert totals(after[sender.id]) == totals(sender)
    assert totals(after[recipient.id]) == totals(recipient)
    assert movement.lines == (
        (sender.id, Column.DEBITS_PENDING, -300),
        (recipient.id, Column.CREDITS_PENDING, -300),
    )


@pytest.mark.parametrize("operation", [post_pending, void_pending])
def test_settling_more_than_is_pending_is_an_invariant_violation(operation: object) -> None:
    sender, recipient = wallet(balance=1000, held=100), wallet(incoming=100)
    with pytest.raises(LedgerInvariantViolated):
        operation(sender, recipient, 101, T1)  # type: ignore[operator]


def test_post_direct_credits_a_wallet_from_a_system_account_that_goes_negative() -> None:
    source, target = system(), wallet()
    movement = post_direct(source, target, 2500, T1)
    after = by_id(movement)
    assert totals(after[source.id]) == (2500, 0, 0, 0)
    assert after[source.id].balance == -2500
    assert totals(after[target.id]) == (0, 2500, 0, 0)
    assert movement.lines == (
        (source.id, Column.DEBITS_POSTED, 2500),
        (target.id, Column.CREDITS_POSTED, 2500),
    )


def test_post_direct_from_a_wallet_respects_its_available_balance() -> None:
    source = wallet(balance=100, held=60)
    post_direct(source, wallet(), 40, T1)
    with pytest.raises(InsufficientFunds):
        post_direct(source, wallet(), 41, T1)


@pytest.mark.parametrize("operation", [open_pending, post_pending, void_pending, post_direct])
def test_every_movement_conserves_money_per_column_pair(operation: object) -> None:
    sender, recipient = wallet(balance=1000, held=300), wallet(incoming=300)
    movement: Movement = operation(sender, recipient, 300, T1)  # type: ignore[operator]
    debits = sum(d for _, c, d in movement.lines if c in (Column.DEBITS_POSTED,))
    credits = sum(d for _, c, d in movement.lines if c in (Column.CREDITS_POSTED,))
    assert debits == credits
    pending_debits = sum(d for _, c, d in movement.lines if c is Column.DEBITS_PENDING)
    pending_credits = sum(d for _, c, d in movement.lines if c is Column.CREDITS_PENDING)
    assert pending_debits == pending_credits
    after = by_id(movement)
    assert sum(a.balance for a in after.values()) == sum(a.balance for a in (sender, recipient))


@pytest.mark.parametrize("operation", [open_pending, post_pending, void_pending, post_direct])
def test_every_movement_checks_its_pair(operation: object) -> None:
    move = operation  # type: ignore[assignment]
    rich = wallet(balance=1000, held=500, incoming=500)
    other = wallet(balance=1000, held=500, incoming=500)
    with pytest.raises(SameWallet):
        move(rich, rich, 100, T1)  # type: ignore[operator]
    with pytest.raises(CurrencyMismatch):
        move(rich, wallet("EUR", incoming=500), 100, T1)  # type: ignore[operator]
    for amount in (0, -100, True, 1.5, "100"):
        with pytest.raises(InvalidAmount):
            move(rich, other, amount, T1)  # type: ignore[operator]


def test_entries_explain_a_movement_line_by_line() -> None:
    sender, recipient = wallet(balance=1000), wallet()
    movement = open_pending(sender, recipient, 300, T1)
    transaction_id, ids = uuid4(), [uuid4(), uuid4()]
    entries = movement.entries(transaction_id, ids, T1)
    assert [(e.id, e.account_id, e.column, e.delta) for e in entries] == [
        (ids[0], sender.id, Column.DEBITS_PENDING, 300),
        (ids[1], recipient.id, Column.CREDITS_PENDING, 300),
    ]
    assert {e.transaction_id for e in entries} == {transaction_id}
    assert {e.posted_at for e in entries} == {T1}
    with pytest.raises(ValueError, match="zip"):
        movement.entries(transaction_id, [uuid4()], T1)


# Transfers ------------------------------------------------------------------------------------


def pending_transfer(*, expires_at: datetime | None = T0 + timedelta(hours=24)) -> Transaction:
    alice = Party(uuid4(), "alice", uuid4())
    bob = Party(uuid4(), "bob", uuid4())
    return Transaction(
        id=uuid4(),
        type=TransactionType.TRANSFER,
        status=TransactionStatus.PENDING,
        amount=100,
        currency="USD",
        funding_source=FundingSource.INTERNAL,
        debit_account_id=alice.wallet_id,
        credit_account_id=bob.wallet_id,
        reference="TRF-TEST",
        created_at=T0,
        updated_at=T0,
        sender=alice,
        recipient=bob,
        expires_at=expires_at,
    )


def test_transfer_parties() -> None:
    transaction = pending_transfer()
    assert transaction.sender is not None and transaction.recipient is not None
    assert transaction.wallet_id == transaction.sender.wallet_id
    assert transaction.counterparty_wallet_id == transaction.recipient.wallet_id
    assert transaction.party_user_ids == (transaction.sender.user_id, transaction.recipient.user_id)
    deposit = replace(transaction, sender=None, type=TransactionType.DEPOSIT)
    assert deposit.wallet_id == transaction.recipient.wallet_id
    assert deposit.counterparty_wallet_id is None
    assert deposit.party_user_ids == (transaction.recipient.user_id,)
    to_self = replace(
        transaction, recipient=replace(transaction.recipient, user_id=transaction.sender.user_id)
    )
    assert to_self.party_user_ids == (transaction.sender.user_id,)


def test_is_due_from_the_expiry_instant_on() -> None:
    transaction = pending_transfer()
    assert transaction.expires_at is not None
    assert not transaction.is_due(transaction.expires_at - timedelta(microseconds=1))
    assert transaction.is_due(transaction.expires_at)
    assert not pending_transfer(expires_at=None).is_due(T0 + timedelta(days=999))
    finished = transaction.finish(TransactionStatus.COMPLETED, T1)
    assert not finished.is_due(transaction.expires_at)


@pytest.mark.parametrize(
    "status", [s for s in TransactionStatus if s is not TransactionStatus.PENDING]
)
def test_finish_moves_pending_to_a_terminal_state_once(status: TransactionStatus) -> None:
    transaction = pending_transfer()
    done = transaction.finish(status, T1)
    assert done.status is status
    assert done.status.is_terminal
    assert done.updated_at == T1
    assert done.completed_at == (T1 if status is TransactionStatus.COMPLETED else None)
    assert transaction.status is TransactionStatus.PENDING  # the original value is untouched
    for again in TransactionStatus:
        if again is TransactionStatus.PENDING:
            continue
        with pytest.raises(NotPending) as caught:
            done.finish(again, T1 + timedelta(minutes=1))
        assert caught.value.code == "not_pending"


def test_finish_cannot_stay_pending() -> None:
    with pytest.raises(LedgerInvariantViolated):
        pending_transfer().finish(TransactionStatus.PENDING, T1)
    assert not TransactionStatus.PENDING.is_terminal


def test_void_statuses_are_the_terminal_states_that_move_no_money() -> None:
    terminal = {s for s in TransactionStatus if s.is_terminal}
    assert terminal - VOID_STATUSES == {TransactionStatus.COMPLETED}


def test_failed_attempts_are_counted() -> None:
    transaction = pending_transfer().with_failed_attempt(T1).with_failed_attempt(T1)
    assert transaction.failed_attempts == 2
    assert transaction.status is TransactionStatus.PENDING
