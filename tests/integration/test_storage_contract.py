"""One contract for the core's storage ports, run against the in-memory adapters, PostgreSQL and
SQLite, so the fakes cannot drift from the real thing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.storage import SqlStorage
from databases import create_database, drop_database
from support import new_name, new_phone
from wallet_core.errors import AlreadyExists
from wallet_core.journal import Receipt, StoredReceipt, Written
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
from wallet_core.local import Uuid7Generator
from wallet_core.notifications import Notification
from wallet_core.ports import Storage, UnitOfWork
from wallet_core.queries import (
    Cursor,
    Ordering,
    PageRequest,
    TransactionFilter,
    TransactionQuery,
    UserFilter,
    UserQuery,
    WalletFilter,
    WalletQuery,
)
from wallet_core.sessions import RefreshToken
from wallet_core.testing.storage import MemoryStorage
from wallet_core.users import User

T = TypeVar("T")
IDS = Uuid7Generator()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def now() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "contract.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """A database of this module's own: the contract writes rows straight through the
    repositories (no ledger rules), which must not leak into the shared test database."""
    url = await create_database("wallet_contract")
    yield url
    await drop_database(url)


@pytest.fixture(params=["memory", "postgres", "sqlite"])
async def storage(
    request: pytest.FixtureRequest, postgres_url: str, sqlite_url: str
) -> AsyncIterator[Storage]:
    if request.param == "memory":
        yield MemoryStorage(IDS.new_id, now)
        return
    url = postgres_url if request.param == "postgres" else sqlite_url
    sql = SqlStorage(create_engine(url, pool_size=2, max_overflow=2))
    yield sql
    await sql.close()


async def run(storage: Storage, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    return await storage.run(work)


def a_user(**changes: Any) -> User:
    name = new_name()
    user = User(
        id=IDS.new_id(),
        email=f"{name}@example.com",
        username=name,
        phone_number=new_phone(),
        password_hash="hash",
        created_at=NOW,
        updated_at=NOW,
        first_name="Ada",
        last_name="Lovelace",
    )
    return replace(user, **changes)


def a_wallet(user: User, currency: str = "USD", **changes: Any) -> Account:
    wallet = Account(
        id=IDS.new_id(),
        kind=AccountKind.WALLET,
        currency=currency,
        created_at=NOW,
        updated_at=NOW,
        owner_id=user.id,
        owner_username=user.username,
    )
    return replace(wallet, **changes)


def a_transfer(debit: Account, credit: Account, amount: int, **changes: Any) -> Transaction:
    sender = Party(debit.owner_id, debit.owner_username or "", debit.id) if debit.owner_id else None
    recipient = (
        Party(credit.owner_id, credit.owner_username or "", credit.id) if credit.owner_id else None
    )
    transaction = Transaction(
        id=IDS.new_id(),
        type=TransactionType.TRANSFER,
        status=TransactionStatus.PENDING,
        amount=amount,
        currency=debit.currency,
        funding_source=FundingSource.INTERNAL,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        reference=f"TRF-{IDS.new_id().hex[-10:].upper()}",
        created_at=NOW,
        updated_at=NOW,
        sender=sender,
        recipient=recipient,
        expires_at=NOW + timedelta(hours=1),
    )
    return replace(transaction, **changes)


async def two_wallets(storage: Storage) -> tuple[User, Account, User, Account]:
    alice, bob = a_user(), a_user()
    wa, wb = a_wallet(alice, credits_posted=10_000), a_wallet(bob)

    async def work(uow: UnitOfWork) -> None:
        await uow.users.add(alice)
        await uow.users.add(bob)
        await uow.accounts.add(wa)
        await uow.accounts.add(wb)

    await run(storage, work)
    return alice, wa, bob, wb


# Users ------------------------------------------------------------------------------------------


async def test_users_unique_fields_and_lookups(storage: Storage) -> None:
    user = a_user(username="Mixed_" + new_name())

    async def add(uow: UnitOfWork) -> None:
        await uow.users.add(user)

    await run(storage, add)
    for clash in (
        a_user(email=user.email),
        a_user(username=user.username.upper()),
        a_user(phone_number=user.phone_number),
    ):

        async def add_clash(uow: UnitOfWork, clash: User = clash) -> None:
            await uow.users.add(clash)

        with pytest.raises(AlreadyExists):
            await run(storage, add_clash)

    async def lookups(uow: UnitOfWork) -> list[User | None]:
        return [
            await uow.users.get(user.id),
            await uow.users.find_by_login(user.email),
            await uow.users.find_by_login(user.username.lower()),
            await uow.users.find_by_phone(user.phone_number),
            await uow.users.find_by_username(user.username.swapcase()),
        ]

    assert all(found == user for found in await storage.run_read(lookups))


async def test_users_search_filters_and_pages(storage: Storage) -> None:
    marker = new_name("flt")
    users = [a_user(first_name=f"{marker}_{i}", is_staff=i == 0) for i in range(5)]

    async def add(uow: UnitOfWork) -> None:
        for user in users:
            await uow.users.add(user)

    await run(storage, add)
    query = UserQuery(UserFilter(first_name=marker.upper()), page=PageRequest(page_size=2))

    async def search(uow: UnitOfWork) -> tuple[list[User], int]:
        return await uow.users.search(query), await uow.users.count(query)

    rows, count = await storage.run_read(search)
    assert count == 5
    assert [u.id for u in rows] == [u.id for u in users[:3]]  # a page of 2, plus one more
    staff_query = UserQuery(UserFilter(first_name=marker, is_staff=True))
    assert await storage.run_read(lambda uow: uow.users.count(staff_query)) == 1
    literal = UserQuery(UserFilter(first_name=marker + "%"))
    assert await storage.run_read(lambda uow: uow.users.count(literal)) == 0


# Accounts ---------------------------------------------------------------------------------------


async def test_one_wallet_per_user_and_currency(storage: Storage) -> None:
    user = a_user()

    async def add(uow: UnitOfWork) -> None:
        await uow.users.add(user)
        await uow.accounts.add(a_wallet(user))
        await uow.accounts.add(a_wallet(user, "EUR"))

    await run(storage, add)

    async def again(uow: UnitOfWork) -> None:
        await uow.accounts.add(a_wallet(user))

    with pytest.raises(AlreadyExists):
        await run(storage, again)
    wallets = await storage.run_read(lambda uow: uow.accounts.wallets_of(user.id))
    assert [w.currency for w in wallets] == ["USD", "EUR"]
    eur = await storage.run_read(lambda uow: uow.accounts.wallet_of(user.id, "EUR"))
    assert eur is not None
    assert eur.currency == "EUR"


async def test_lock_and_save_persist_totals(storage: Storage) -> None:
    _, wa, _, wb = await two_wallets(storage)

    async def move(uow: UnitOfWork) -> None:
        locked = await uow.accounts.lock([wb.id, wa.id])
        assert list(locked) == sorted([wa.id, wb.id], key=lambda u: u.bytes)
        await uow.accounts.save(
            [
                replace(locked[wa.id], debits_pending=2_500),
                replace(locked[wb.id], credits_pending=2_500, is_active=False),
            ]
        )

    await run(storage, move)
    a = await storage.run_read(lambda uow: uow.accounts.get(wa.id))
    b = await storage.run_read(lambda uow: uow.accounts.get(wb.id))
    assert a is not None
    assert b is not None
    assert (a.available, a.held) == (7_500, 2_500)
    assert (b.pending_incoming, b.is_active) == (2_500, False)


async def system_account(storage: Storage, source: FundingSource, currency: str) -> Account:
    """The source's account in ``currency``, added if it does not exist yet."""

    async def work(uow: UnitOfWork) -> Account:
        found = await uow.accounts.find_system(source, currency)
        if found is not None:
            return found
        account = Account(
            id=IDS.new_id(),
            kind=AccountKind.SYSTEM,
            currency=currency,
            created_at=NOW,
            updated_at=NOW,
            source=source,
        )
        await uow.accounts.add(account)
        return account

    return await run(storage, work)


async def test_system_accounts_exist_once_per_source_and_currency(storage: Storage) -> None:
    first = await system_account(storage, FundingSource.PAYSEND, "GBP")
    second = await system_account(storage, FundingSource.PAYSEND, "GBP")
    assert first.id == second.id
    assert first.kind is AccountKind.SYSTEM
    twin = replace(first, id=IDS.new_id())

    async def add_twin(uow: UnitOfWork) -> None:
        await uow.accounts.add(twin)

    with pytest.raises(AlreadyExists):
        await run(storage, add_twin)


async def test_wallet_search_filters_order_and_keyset(storage: Storage) -> None:
    user = a_user()
    wallets = [
        a_wallet(user, code, credits_posted=amount)
        for code, amount in (("USD", 300), ("EUR", 100), ("GBP", 200))
    ]

    async def add(uow: UnitOfWork) -> None:
        await uow.users.add(user)
        for wallet in wallets:
            await uow.accounts.add(wallet)

    await run(storage, add)
    ordering = (Ordering("balance", descending=True),)
    first = WalletQuery(WalletFilter(viewer_id=user.id), ordering, PageRequest(page_size=2))
    rows = await storage.run_read(lambda uow: uow.accounts.search(first))
    assert [w.balance for w in rows] == [300, 200, 100]
    after = Cursor((rows[1].balance,), rows[1].id)
    second = WalletQuery(
        WalletFilter(viewer_id=user.id), ordering, PageRequest(2, cursor=after, keyset=True)
    )
    rows = await storage.run_read(lambda uow: uow.accounts.search(second))
    assert [w.balance for w in rows] == [100]
    bounded = WalletQuery(WalletFilter(viewer_id=user.id, balance_min=150, balance_max=250))
    assert await storage.run_read(lambda uow: uow.accounts.count(bounded)) == 1


# Transfers --------------------------------------------------------------------------------------


async def test_transfer_round_trip_and_lock(storage: Storage) -> None:
    _, wa, _, wb = await two_wallets(storage)
    transaction = a_transfer(wa, wb, 1_234, description="rent")

    async def add(uow: UnitOfWork) -> None:
        await uow.transactions.add(transaction)

    await run(storage, add)
    assert await storage.run_read(lambda uow: uow.transactions.get(transaction.id)) == transaction
    done = transaction.finish(TransactionStatus.COMPLETED, NOW + timedelta(minutes=1))

    async def finish(uow: UnitOfWork) -> None:
        locked = await uow.transactions.lock(transaction.id)
        assert locked == transaction
        await uow.transactions.update(done)

    await run(storage, finish)
    assert await storage.run_read(lambda uow: uow.transactions.get(transaction.id)) == done


async def test_provider_ids_are_unique_per_source(storage: Storage) -> None:
    _, wa, _, _ = await two_wallets(storage)
    source = await system_account(storage, FundingSource.PAYSEND, "USD")
    provider_id = new_name("ps")
    deposit = a_transfer(
        source,
        wa,
        500,
        type=TransactionType.DEPOSIT,
        status=TransactionStatus.COMPLETED,
        funding_source=FundingSource.PAYSEND,
        provider_id=provider_id,
        sender=None,
    )
    again = replace(deposit, id=IDS.new_id(), reference=deposit.reference + "X")
    await run(storage, lambda uow: uow.transactions.add(deposit))
    with pytest.raises(AlreadyExists):
        await run(storage, lambda uow: uow.transactions.add(again))
    found = await storage.run_read(
        lambda uow: uow.transactions.by_provider_id(FundingSource.PAYSEND, provider_id)
    )
    assert found is not None
    assert found.id == deposit.id


async def test_due_withdrawals_and_pending_totals(storage: Storage) -> None:
    _, wa, _, wb = await two_wallets(storage)
    sink = await system_account(storage, FundingSource.BLF_ATM, "USD")
    due = a_transfer(wa, wb, 100, expires_at=NOW - timedelta(seconds=1))
    cashout = a_transfer(
        wa,
        sink,
        200,
        type=TransactionType.WITHDRAWAL,
        funding_source=FundingSource.BLF_ATM,
        code_digest="d" * 64,
    )

    async def add(uow: UnitOfWork) -> None:
        await uow.transactions.add(due)
        await uow.transactions.add(cashout)

    await run(storage, add)
    locked_due = await run(storage, lambda uow: uow.transactions.lock_due(NOW, 1000))
    assert due.id in {t.id for t in locked_due}
    assert cashout.id not in {t.id for t in locked_due}
    by_code = await run(
        storage,
        lambda uow: uow.transactions.withdrawals_of(
            [wa.id], code_digests=["d" * 64], pending_only=False
        ),
    )
    assert [t.id for t in by_code] == [cashout.id]
    pending = await run(
        storage, lambda uow: uow.transactions.withdrawals_of([wa.id], pending_only=True)
    )
    assert [t.id for t in pending] == [cashout.id]
    totals = await storage.run_read(lambda uow: uow.transactions.pending_totals())
    assert totals[wa.id] == (300, 0)
    assert totals[wb.id] == (0, 100)


async def test_transaction_search_for_a_viewer(storage: Storage) -> None:
    alice, wa, bob, wb = await two_wallets(storage)
    transactions = [
        a_transfer(wa, wb, 100 * (i + 1), created_at=NOW + timedelta(seconds=i)) for i in range(4)
    ]
    transactions.append(
        a_transfer(wb, wa, 50, created_at=NOW + timedelta(seconds=10), description="Lunch 50%")
    )

    async def add(uow: UnitOfWork) -> None:
        for transaction in transactions:
            await uow.transactions.add(transaction)
        # The ledger keeps each account's transfer count; these rows bypass it, so keep it here.
        locked = await uow.accounts.lock([wa.id, wb.id])
        await uow.accounts.save([replace(a, transaction_count=5) for a in locked.values()])

    await run(storage, add)
    newest_first = (Ordering("created_at", descending=True),)

    async def search(
        f: TransactionFilter, size: int = 10, cursor: Cursor | None = None
    ) -> list[UUID]:
        query = TransactionQuery(
            f, newest_first, PageRequest(size, cursor=cursor, keyset=cursor is not None)
        )
        return [t.id for t in await storage.run_read(lambda uow: uow.transactions.search(query))]

    ids_newest_first = [t.id for t in reversed(transactions)]
    assert await search(TransactionFilter(viewer_id=alice.id)) == ids_newest_first
    assert await search(TransactionFilter(viewer_id=bob.id)) == ids_newest_first
    outgoing = TransactionFilter(viewer_id=alice.id, direction="out", caller_id=alice.id)
    assert await search(outgoing) == ids_newest_first[1:]
    incoming = TransactionFilter(viewer_id=alice.id, direction="in", caller_id=alice.id)
    assert await search(incoming) == ids_newest_first[:1]
    assert await search(TransactionFilter(viewer_id=alice.id, text="50%")) == ids_newest_first[:1]
    assert await search(TransactionFilter(viewer_id=alice.id, text="5_%")) == []
    ranged = TransactionFilter(viewer_id=alice.id, amount_min=150, amount_max=350)
    assert await search(ranged) == [transactions[2].id, transactions[1].id]
    first_page = await search(TransactionFilter(viewer_id=alice.id), size=2)
    last = next(t for t in transactions if t.id == first_page[1])
    rest = await search(
        TransactionFilter(viewer_id=alice.id), size=10, cursor=Cursor((last.created_at,), last.id)
    )
    assert first_page[:2] + rest == ids_newest_first
    count_query = TransactionQuery(TransactionFilter(viewer_id=alice.id))
    assert await storage.run_read(lambda uow: uow.transactions.count(count_query)) == 5
    filtered = TransactionQuery(TransactionFilter(viewer_id=alice.id, amount_min=150))
    assert await storage.run_read(lambda uow: uow.transactions.count(filtered)) == 3
    counts = await storage.run_read(lambda uow: uow.transactions.transaction_counts())
    assert (counts[wa.id], counts[wb.id]) == (5, 5)


# Entries, tokens, idempotency, outbox -----------------------------------------------------------


async def test_entry_totals(storage: Storage) -> None:
    _, wa, _, wb = await two_wallets(storage)
    transaction = a_transfer(wa, wb, 300)

    async def add(uow: UnitOfWork) -> None:
        await uow.transactions.add(transaction)
        await uow.entries.add_many(
            [
                Entry(IDS.new_id(), transaction.id, wa.id, Column.DEBITS_PENDING, 300, NOW),
                Entry(IDS.new_id(), transaction.id, wa.id, Column.DEBITS_PENDING, -300, NOW),
                Entry(IDS.new_id(), transaction.id, wa.id, Column.DEBITS_POSTED, 300, NOW, -300),
            ]
        )

    await run(storage, add)
    totals = await storage.run_read(lambda uow: uow.entries.totals())
    assert totals[wa.id] == {Column.DEBITS_PENDING: 0, Column.DEBITS_POSTED: 300}


async def test_refresh_token_family_revocation(storage: Storage) -> None:
    user = a_user()
    family = IDS.new_id()
    tokens = [
        RefreshToken(IDS.new_id(), family, user.id, new_name("d"), NOW, NOW + timedelta(days=1))
        for _ in range(2)
    ]

    async def add(uow: UnitOfWork) -> None:
        await uow.users.add(user)
        for token in tokens:
            await uow.refresh_tokens.add(token)
        await uow.refresh_tokens.mark_rotated(tokens[0].id, NOW)
        await uow.refresh_tokens.revoke_family(family, NOW)

    await run(storage, add)
    found = [
        await run(storage, lambda uow, t=t: uow.refresh_tokens.lock_by_digest(t.token_digest))
        for t in tokens
    ]
    assert found[0] is not None
    assert found[0].rotated_at == NOW
    assert all(t is not None and t.revoked_at == NOW for t in found)


async def test_idempotency_receipts(storage: Storage) -> None:
    def receipt(body: bytes, at: datetime = NOW, fingerprint: str = "f") -> Receipt:
        return Receipt("contract", key, fingerprint, body, at, at + timedelta(days=1))

    key = new_name("key")
    assert await run(storage, lambda uow: uow.receipts.begin("contract", key, NOW)) is (
        Written.APPLIED
    )
    assert await run(storage, lambda uow: uow.receipts.claim(receipt(b"first"))) is Written.APPLIED
    assert await run(storage, lambda uow: uow.receipts.begin("contract", key, NOW)) is (
        Written.DUPLICATE
    )
    # An unexpired receipt is never overwritten, whatever the second request says.
    second = receipt(b"second", fingerprint="g")
    assert await run(storage, lambda uow: uow.receipts.claim(second)) is Written.DUPLICATE
    found = await storage.run_read(lambda uow: uow.receipts.get("contract", key, NOW))
    assert found == StoredReceipt("f", b"first")
    # A claim that rolls back with its unit of work leaves nothing behind.
    other = new_name("key")

    async def fails(uow: UnitOfWork) -> None:
        await uow.receipts.claim(replace(receipt(b"lost"), key=other))
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        await run(storage, fails)
    assert await storage.run_read(lambda uow: uow.receipts.get("contract", other, NOW)) is None
    # Past its retention the key is free again: taken over by the next request, or purged.
    later = NOW + timedelta(days=1)
    assert await storage.run_read(lambda uow: uow.receipts.get("contract", key, later)) is None
    taken = receipt(b"third", at=later, fingerprint="h")
    assert await run(storage, lambda uow: uow.receipts.claim(taken)) is Written.APPLIED
    found = await storage.run_read(lambda uow: uow.receipts.get("contract", key, later))
    assert found == StoredReceipt("h", b"third")
    far = later + timedelta(days=1)
    assert await run(storage, lambda uow: uow.receipts.delete_expired(far, 10_000)) >= 1
    assert await storage.run_read(lambda uow: uow.receipts.get("contract", key, NOW)) is None


async def test_outbox_dispatch_and_delivery_marks(storage: Storage) -> None:
    user = a_user()
    event = Notification(
        IDS.new_id(),
        "deposit_received",
        user.id,
        NOW - timedelta(days=400),
        {"withdrawal_code": "SECRET", "amount": "1.00"},
    )

    async def add(uow: UnitOfWork) -> None:
        await uow.users.add(user)
        await uow.outbox.add_many([event])

    await run(storage, add)
    stale = NOW - timedelta(minutes=10)
    waiting = await run(storage, lambda uow: uow.outbox.lock_undispatched(10_000, stale, NOW))
    assert event.id in {e.id for e in waiting}
    await run(storage, lambda uow: uow.outbox.mark_dispatched([event.id], NOW))
    waiting = await run(storage, lambda uow: uow.outbox.lock_undispatched(10_000, stale, NOW))
    assert event.id not in {e.id for e in waiting}
    later = NOW + timedelta(hours=1)
    waiting = await run(storage, lambda uow: uow.outbox.lock_undispatched(10_000, later, NOW))
    assert event.id in {e.id for e in waiting}  # dispatched long ago and never sent: again
    retry_at = NOW + timedelta(seconds=30)
    await run(storage, lambda uow: uow.outbox.record_attempt(event.id, retry_at))
    waiting = await run(storage, lambda uow: uow.outbox.lock_undispatched(10_000, later, NOW))
    assert event.id not in {e.id for e in waiting}  # backing off after a failed attempt
    waiting = await run(storage, lambda uow: uow.outbox.lock_undispatched(10_000, later, retry_at))
    assert event.id in {e.id for e in waiting}
    await run(storage, lambda uow: uow.outbox.mark_sent(event.id, NOW, {"amount": "1.00"}))
    sent = await run(storage, lambda uow: uow.outbox.lock_for_delivery(event.id))
    assert sent is not None
    assert sent.sent_at == NOW
    assert sent.attempts == 1
    assert dict(sent.payload) == {"amount": "1.00"}


async def test_a_failed_unit_of_work_changes_nothing(storage: Storage) -> None:
    user = a_user()

    async def fail(uow: UnitOfWork) -> None:
        await uow.users.add(user)
        await uow.accounts.add(a_wallet(user))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run(storage, fail)
    assert await storage.run_read(lambda uow: uow.users.get(user.id)) is None
    assert await storage.run_read(lambda uow: uow.accounts.wallets_of(user.id)) == []
