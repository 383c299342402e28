"""Random sequences of every money movement, checked against docs/ledger-model.md after every step.

A hypothesis state machine drives deposits (staff and Paysend, with repeated provider ids),
transfers, accepts, rejects, cancels, cash-outs, code verifications (right and wrong codes),
freezes, clock advances and expiry runs across three users with a USD and a EUR wallet each.
A plain Python model of the accepted operations predicts every outcome (including which error
the core must raise) and every wallet's balance, held amount and pending incoming amount; after
every step the core must agree with the model and with every invariant of docs/ledger-model.md.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wallet_core.errors import (
    DomainError,
    Expired,
    InsufficientFunds,
    InvalidWithdrawalCode,
    NotFound,
    NotPending,
    SameWallet,
    TooManyAttempts,
    WalletFrozen,
)
from wallet_core.events import STATUS_EVENTS, Event, EventType
from wallet_core.ledger import FundingSource, TransactionStatus, TransactionType
from wallet_core.money import Currency, format_minor
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor, Policy
from wallet_core.services.deposits import ProviderDeposit
from wallet_core.testing import build_in_memory
from wallet_core.testing.fakes import ManualClock
from wallet_core.testing.storage import MemoryStorage

T = TypeVar("T")

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
USERS = ("ann", "ben", "cat")
CURRENCIES = ("USD", "EUR")
PASSWORD = "a perfectly fine passphrase"
#: "O" and "1" are not in the code alphabet, so this is never anyone's withdrawal code.
WRONG_CODE = "WRONGCODE1"
TRANSFER_EXPIRY = timedelta(hours=2)
CASHOUT_EXPIRY = timedelta(minutes=30)
#: Fewer than the default five wrong codes cancel a cash-out, so random runs reach the limit.
MAX_ATTEMPTS = 3
#: What each wallet gets from staff before the first step.
OPENING_DEPOSIT = 200_00

users = st.sampled_from(USERS)
currencies = st.sampled_from(CURRENCIES)
cents = st.one_of(st.integers(min_value=1, max_value=100_00), st.integers(1, 1_000_00))
#: Mostly to someone else (offset 1 or 2), sometimes to oneself (offset 0).
offsets = st.sampled_from([1, 1, 1, 2, 2, 2, 0])
picks = st.integers(min_value=0, max_value=10_000)


def text(minor: int) -> str:
    return format_minor(minor, Currency("XTS", 2))


@dataclass
class Movement:
    """The model of one transaction."""

    id: UUID
    type: TransactionType
    status: TransactionStatus
    amount: int
    currency: str
    debit: UUID  # a wallet, or a system account for deposits
    credit: UUID  # a wallet, or the ATM sink for cash-outs
    sender: str | None = None
    recipient: str | None = None
    expires_at: datetime | None = None
    code: str | None = None
    attempts: int = 0

    @property
    def pending(self) -> bool:
        return self.status is TransactionStatus.PENDING


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(START)
        self.core = build_in_memory(
            clock=self.clock,
            policy=Policy(
                transfer_expiry=TRANSFER_EXPIRY,
                cashout_expiry=CASHOUT_EXPIRY,
                max_code_attempts=MAX_ATTEMPTS,
            ),
        )
        storage = self.core.ctx.storage
        assert isinstance(storage, MemoryStorage)
        self.storage = storage
        admin, _ = self.run(
            self.core.auth.register(
                Registration("admin@example.com", "admin", PASSWORD, "+447700900000", is_staff=True)
            )
        )
        self.staff = Actor(admin.id, is_staff=True)
        self.actors: dict[str, Actor] = {}
        self.phones: dict[str, str] = {}
        self.wallets: dict[tuple[str, str], UUID] = {}
        for n, name in enumerate(USERS, start=1):
            user, usd = self.run(
                self.core.auth.register(
                    Registration(f"{name}@example.com", name, PASSWORD, f"+44770090000{n}")
                )
            )
            self.actors[name] = Actor(user.id)
            self.phones[name] = user.phone_number
            self.wallets[name, "USD"] = usd.id
            eur = self.run(self.core.wallets.open(self.actors[name], "EUR"))
            self.wallets[name, "EUR"] = eur.id
        self.owner = {wallet_id: name for (name, _), wallet_id in self.wallets.items()}

        # The model.
        self.balance: dict[UUID, int] = defaultdict(int)
        self.frozen: set[UUID] = set()
        self.movements: dict[UUID, Movement] = {}
        self.provider_ids: dict[str, UUID] = {}
        self.deposited: dict[str, int] = defaultdict(int)  # per currency, into wallets
        self.cashed_out: dict[str, int] = defaultdict(int)  # per currency, posted to the ATM
        self.observed: dict[UUID, TransactionStatus] = {}
        for name, currency in list(self.wallets):
            self.staff_deposit(name, currency, OPENING_DEPOSIT)

    def teardown(self) -> None:
        self.loop.close()

    # Helpers -------------------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def attempt(self, expected: type[DomainError] | None, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a use case that the model says must succeed (None) or raise ``expected``."""
        event(f"{coroutine.__qualname__}: {expected.code if expected else 'ok'}")
        try:
            result, error = self.run(coroutine), None
        except DomainError as raised:
            result, error = None, raised
        if error is not None:
            assert expected is not None, f"unexpected {error.code}: {error.message}"
            assert type(error) is expected, f"expected {expected.code}, got {error.code}"
        else:
            assert expected is None, f"expected {expected.code}, but it succeeded"
        return result  # type: ignore[return-value]

    def held(self, wallet_id: UUID) -> int:
        return sum(m.amount for m in self.movements.values() if m.pending and m.debit == wallet_id)

    def incoming(self, wallet_id: UUID) -> int:
        return sum(m.amount for m in self.movements.values() if m.pending and m.credit == wallet_id)

    def available(self, wallet_id: UUID) -> int:
        return self.balance[wallet_id] - self.held(wallet_id)

    def now(self) -> datetime:
        return self.clock.now()

    def settle(self, movement: Movement, status: TransactionStatus) -> None:
        """The model's one state change of a pending transfer."""
        assert movement.pending
        movement.status = status
        if status is TransactionStatus.COMPLETED:
            self.balance[movement.debit] -= movement.amount
            if movement.type is TransactionType.WITHDRAWAL:
                self.cashed_out[movement.currency] += movement.amount
            else:
                self.balance[movement.credit] += movement.amount

    def due(self, movement: Movement) -> bool:
        return (
            movement.pending
            and movement.expires_at is not None
            and movement.expires_at <= self.now()
        )

    def pick(
        self, index: int, *, pending_only: bool, type: TransactionType | None = None
    ) -> Movement:
        candidates = [
            m
            for m in self.movements.values()
            if m.type is not TransactionType.DEPOSIT
            and (not pending_only or m.pending)
            and (type is None or m.type is type)
        ]
        return candidates[index % len(candidates)]

    def has(self, *, pending_only: bool, type: TransactionType | None = None) -> bool:
        return any(
            m.type is not TransactionType.DEPOSIT
            and (not pending_only or m.pending)
            and (type is None or m.type is type)
            for m in self.movements.values()
        )

    # Rules: money in -----------------------------------------------------------------------------

    @rule(user=users, currency=currencies, amount=cents)
    def staff_deposit(self, user: str, currency: str, amount: int) -> None:
        wallet_id = self.wallets[user, currency]
        expected = WalletFrozen if wallet_id in self.frozen else None
        deposit = self.attempt(
            expected,
            self.core.deposits.manual(self.staff, amount=text(amount), wallet_id=wallet_id),
        )
        if deposit is not None:
            self._deposited(deposit.id, deposit.debit_account_id, wallet_id, currency, amount)

    @rule(
        user=users,
        provider_id=st.sampled_from([f"ps-{n}" for n in range(6)]),
        currency=st.sampled_from((None, *CURRENCIES)),
        amount=cents,
    )
    def paysend(self, user: str, provider_id: str, currency: str | None, amount: int) -> None:
        wallet_id = self.wallets[user, currency or "USD"]  # USD: each user's first wallet
        already = self.provider_ids.get(provider_id)
        if already is None and wallet_id in self.frozen:
            expected: type[DomainError] | None = WalletFrozen
        else:
            expected = None
        outcome = self.attempt(
            expected,
            self.core.deposits.paysend(
                ProviderDeposit(provider_id, "COMPLETED", self.phones[user], text(amount), currency)
            ),
        )
        if outcome is None:
            return
        assert outcome.status == "processed"
        assert outcome.transaction is not None
        if already is not None:  # a retry: the first deposit's transaction, and no money moves
            assert outcome.transaction.id == already
            return
        self.provider_ids[provider_id] = outcome.transaction.id
        transaction = outcome.transaction
        self._deposited(
            transaction.id, transaction.debit_account_id, wallet_id, currency or "USD", amount
        )

    def _deposited(
        self, transaction_id: UUID, source: UUID, wallet_id: UUID, currency: str, amount: int
    ) -> None:
        self.movements[transaction_id] = Movement(
            transaction_id,
            TransactionType.DEPOSIT,
            TransactionStatus.COMPLETED,
            amount,
            currency,
            debit=source,
            credit=wallet_id,
        )
        self.balance[wallet_id] += amount
        self.deposited[currency] += amount

    # Rules: transfers ----------------------------------------------------------------------------

    @rule(sender=users, offset=offsets, currency=currencies, amount=cents)
    def transaction(self, sender: str, offset: int, currency: str, amount: int) -> None:
        recipient = USERS[(USERS.index(sender) + offset) % len(USERS)]
        source, target = self.wallets[sender, currency], self.wallets[recipient, currency]
        expected: type[DomainError] | None = None
        if source == target:
            expected = SameWallet
        elif source in self.frozen or target in self.frozen:
            expected = WalletFrozen
        elif amount > self.available(source):
            expected = InsufficientFunds
        created = self.attempt(
            expected,
            self.core.transfers.create_transfer(
                self.actors[sender], amount=text(amount), recipient=recipient, wallet_id=source
            ),
        )
        if created is None:
            return
        assert created.expires_at == self.now() + TRANSFER_EXPIRY
        self.movements[created.id] = Movement(
            created.id,
            TransactionType.TRANSFER,
            TransactionStatus.PENDING,
            amount,
            currency,
            debit=source,
            credit=target,
            sender=sender,
            recipient=recipient,
            expires_at=created.expires_at,
        )

    @precondition(lambda self: self.has(pending_only=False))
    @rule(
        index=picks,
        pending_only=st.booleans(),
        action=st.sampled_from(["accept", "reject", "cancel"]),
        party=st.sampled_from(["right", "right", "right", "other", "staff"]),
    )
    def act(self, index: int, pending_only: bool, action: str, party: str) -> None:
        if not self.has(pending_only=pending_only):
            pending_only = False
        movement = self.pick(index, pending_only=pending_only)
        if party == "staff":
            actor, who = self.staff, "admin"
        else:
            right = movement.sender if action == "cancel" else movement.recipient
            if party == "right" and right is not None:
                who = right
            else:
                who = next(u for u in USERS if u not in (movement.sender, movement.recipient))
            actor = self.actors[who]

        allowed = (
            who == movement.sender
            if action == "cancel"
            else movement.type is TransactionType.TRANSFER and who == movement.recipient
        )
        expected: type[DomainError] | None = None
        if not allowed:
            expected = NotFound
        elif not movement.pending:
            expected = NotPending
        elif self.due(movement):
            expected = Expired
        elif action == "accept" and (
            movement.debit in self.frozen or movement.credit in self.frozen
        ):
            expected = WalletFrozen
        result = self.attempt(expected, self.core.transactions.act(actor, movement.id, action))

        if expected is Expired:
            self.settle(movement, TransactionStatus.EXPIRED)
        elif result is not None:
            status = {
                "accept": TransactionStatus.COMPLETED,
                "reject": TransactionStatus.REJECTED,
                "cancel": TransactionStatus.CANCELLED,
            }[action]
            assert result.status is status
            self.settle(movement, status)

    # Rules: cash-outs ----------------------------------------------------------------------------

    @rule(user=users, currency=currencies, amount=cents)
    def cash_out(self, user: str, currency: str, amount: int) -> None:
        wallet_id = self.wallets[user, currency]
        expected: type[DomainError] | None = None
        if wallet_id in self.frozen:
            expected = WalletFrozen
        elif amount > self.available(wallet_id):
            expected = InsufficientFunds
        cashout = self.attempt(
            expected,
            self.core.cashouts.request(self.actors[user], amount=text(amount), wallet_id=wallet_id),
        )
        if cashout is None:
            return
        transaction = cashout.transaction
        assert transaction.expires_at == self.now() + CASHOUT_EXPIRY
        assert cashout.withdrawal_code not in repr(transaction)
        self.movements[transaction.id] = Movement(
            transaction.id,
            TransactionType.WITHDRAWAL,
            TransactionStatus.PENDING,
            amount,
            currency,
            debit=wallet_id,
            credit=transaction.credit_account_id,
            sender=user,
            expires_at=transaction.expires_at,
            code=cashout.withdrawal_code,
        )

    @precondition(lambda self: self.has(pending_only=False, type=TransactionType.WITHDRAWAL))
    @rule(index=picks, pending_only=st.booleans())
    def verify_right_code(self, index: int, pending_only: bool) -> None:
        if not self.has(pending_only=pending_only, type=TransactionType.WITHDRAWAL):
            pending_only = False
        movement = self.pick(index, pending_only=pending_only, type=TransactionType.WITHDRAWAL)
        assert movement.sender is not None and movement.code is not None
        expected: type[DomainError] | None = None
        if movement.status is TransactionStatus.EXPIRED or self.due(movement):
            expected = Expired
        elif not movement.pending:
            expected = NotPending
        elif movement.debit in self.frozen:
            expected = WalletFrozen  # a frozen wallet cannot cash out, even a code issued earlier
        result = self.attempt(
            expected,
            self.core.cashouts.verify(self.phones[movement.sender], movement.code.lower()),
        )
        if expected is Expired and movement.pending:
            self.settle(movement, TransactionStatus.EXPIRED)
        elif result is not None:
            assert result.id == movement.id
            assert result.status is TransactionStatus.COMPLETED
            self.settle(movement, TransactionStatus.COMPLETED)

    @rule(user=users, index=picks)
    def verify_wrong_code(self, user: str, index: int) -> None:
        if self.has(pending_only=True, type=TransactionType.WITHDRAWAL):
            # Mostly aim at someone with a pending cash-out, so attempts add up.
            sender = self.pick(index, pending_only=True, type=TransactionType.WITHDRAWAL).sender
            user = sender if index % 4 else user
            assert user is not None
        counted = [
            m
            for m in self.movements.values()
            if m.type is TransactionType.WITHDRAWAL
            and m.pending
            and m.sender == user
            and not self.due(m)  # lapsed cash-outs are left to the expiry job
        ]
        doomed = [m for m in counted if m.attempts + 1 >= MAX_ATTEMPTS]
        expected = TooManyAttempts if doomed else InvalidWithdrawalCode
        self.attempt(expected, self.core.cashouts.verify(self.phones[user], WRONG_CODE))
        for movement in counted:
            movement.attempts += 1
        for movement in doomed:
            self.settle(movement, TransactionStatus.CANCELLED)

    # Rules: time, expiry, freezing ---------------------------------------------------------------

    @rule(minutes=st.integers(min_value=1, max_value=150))
    def advance_clock(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def expiry_job(self) -> None:
        due = [m for m in self.movements.values() if self.due(m)]
        assert self.run(self.core.expiry.expire_due()) == len(due)
        for movement in due:
            self.settle(movement, TransactionStatus.EXPIRED)

    @rule(user=users, currency=currencies, active=st.booleans())
    def set_active(self, user: str, currency: str, active: bool) -> None:
        wallet_id = self.wallets[user, currency]
        wallet = self.run(self.core.wallets.set_active(self.staff, wallet_id, active))
        assert wallet.is_active is active
        if active:
            self.frozen.discard(wallet_id)
        else:
            self.frozen.add(wallet_id)

    # Invariants ----------------------------------------------------------------------------------

    @invariant()
    def conservation_per_currency(self) -> None:
        balances: dict[str, int] = defaultdict(int)
        pending: dict[str, int] = defaultdict(int)
        for account in self.storage.state.accounts.values():
            balances[account.currency] += account.balance
            pending[account.currency] += account.debits_pending - account.credits_pending
        assert all(total == 0 for total in balances.values()), balances
        assert all(total == 0 for total in pending.values()), pending

    @invariant()
    def no_overdraft_and_wallets_match_the_model(self) -> None:
        for wallet_id, name in self.owner.items():
            wallet = self.storage.state.accounts[wallet_id]
            assert wallet.available >= 0
            assert wallet.balance == self.balance[wallet_id], name
            assert wallet.held == self.held(wallet_id), name
            assert wallet.available == self.available(wallet_id), name
            assert wallet.pending_incoming == self.incoming(wallet_id), name
            assert wallet.is_active == (wallet_id not in self.frozen)

    @invariant()
    def system_accounts_match_the_model(self) -> None:
        sources: dict[str, int] = defaultdict(int)
        atm: dict[str, int] = defaultdict(int)
        for account in self.storage.state.accounts.values():
            if account.source in (FundingSource.MANUAL, FundingSource.PAYSEND):
                sources[account.currency] += account.balance
            elif account.source is FundingSource.BLF_ATM:
                atm[account.currency] += account.balance
                expected_pending = sum(
                    m.amount
                    for m in self.movements.values()
                    if m.pending and m.credit == account.id
                )
                assert account.credits_pending == expected_pending
        for currency in CURRENCIES:
            assert sources[currency] == -self.deposited[currency]
            assert atm[currency] == self.cashed_out[currency]

    @invariant()
    def each_transfer_changes_state_at_most_once(self) -> None:
        entries: dict[UUID, int] = defaultdict(int)
        for entry in self.storage.state.entries.values():
            entries[entry.transaction_id] += 1
        stored = self.storage.state.transactions
        assert set(stored) == set(self.movements)
        for transaction_id, transaction in stored.items():
            movement = self.movements[transaction_id]
            assert transaction.status is movement.status, (transaction.reference, movement)
            assert transaction.failed_attempts == movement.attempts
            before = self.observed.get(transaction_id)
            assert (
                before is None
                or before is transaction.status
                or before is TransactionStatus.PENDING
            )
            self.observed[transaction_id] = transaction.status
            # The entries tell how many movements the transfer caused: one per state.
            if (
                transaction.type is TransactionType.DEPOSIT
                or transaction.status is TransactionStatus.PENDING
            ):
                assert entries[transaction_id] == 2
            elif transaction.status is TransactionStatus.COMPLETED:
                assert entries[transaction_id] == 2 + 4
            else:
                assert entries[transaction_id] == 2 + 2

    @invariant()
    def events_tell_each_transfers_history_once(self) -> None:
        """One ``transaction.created``, then one event per status reached (a deposit is born
        completed), each seen by exactly the transaction's parties, in commit order."""
        by_transfer: dict[UUID, list[Event]] = defaultdict(list)
        stored = list(self.storage.state.events.values())
        assert all(e.position is not None for e in stored)
        for recorded in sorted(stored, key=lambda e: e.position):  # type: ignore[arg-type,return-value]
            if recorded.transaction_id is not None:
                by_transfer[recorded.transaction_id].append(recorded)
        assert set(by_transfer) == set(self.storage.state.transactions)
        for transaction_id, transaction in self.storage.state.transactions.items():
            history = by_transfer[transaction_id]
            expected = [EventType.TRANSACTION_CREATED]
            if transaction.status is not TransactionStatus.PENDING:
                expected.append(STATUS_EVENTS[transaction.status])
            assert [e.type for e in history] == expected, transaction.reference
            assert history[-1].data["transaction"]["status"] == transaction.status.value
            assert all(e.user_ids == transaction.party_user_ids for e in history)

    @invariant()
    def audit_is_clean(self) -> None:
        report = self.run(self.core.audit.run())
        assert report.ok, report.problems
        wallets: dict[str, int] = defaultdict(int)
        for wallet_id in self.owner:
            wallets[self.storage.state.accounts[wallet_id].currency] += self.balance[wallet_id]
        assert {c: v for c, v in report.balances.items() if v} == {
            c: v for c, v in wallets.items() if v
        }


TestLedgerStateMachine = LedgerMachine.TestCase
TestLedgerStateMachine.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
