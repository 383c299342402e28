"""Every use case of the core and every error code it can raise, on the in-memory adapters.

Each test ends with an audit of the ledger (see the ``world`` fixture below): whatever a test did,
every account must still be reconstructible from its entries and every invariant must hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest
from core_world import PASSWORD, SECRET, START, Person, World, make_world

from entrypoints.http.idempotency import validate_key
from wallet_core.errors import (
    AlreadyExists,
    CurrencyMismatch,
    DomainError,
    Expired,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    InvalidCredentials,
    InvalidWithdrawalCode,
    NotAuthenticated,
    NotFound,
    NotPending,
    PermissionDenied,
    RecipientNotFound,
    SameWallet,
    ServiceUnavailable,
    TokenRevoked,
    TooManyAttempts,
    UnsupportedCurrency,
    ValidationFailed,
    WalletFrozen,
    WeakPassword,
)
from wallet_core.ledger import (
    Account,
    Column,
    FundingSource,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from wallet_core.local import MemoryNotifier
from wallet_core.notifications import NotificationKind
from wallet_core.ports import EmailMessage, UnitOfWork
from wallet_core.queries import UserFilter, UserQuery
from wallet_core.services.auth import ProfileChanges, Registration
from wallet_core.services.cashouts import CODE_ALPHABET
from wallet_core.services.deposits import ProviderDeposit
from wallet_core.services.expiry import ExpiryService
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.transactions import TransactionListParams
from wallet_core.services.wallets import WalletListParams
from wallet_core.users import User


@pytest.fixture
async def world(world: World) -> AsyncIterator[World]:
    """The shared world, audited after the test: the ledger must be clean whatever happened."""
    yield world
    report = await world.core.audit.run()
    assert report.ok, report.problems


@pytest.fixture
async def alice(world: World) -> Person:
    return await world.register("alice", first_name="Alice", last_name="Liddell")


@pytest.fixture
async def bob(world: World) -> Person:
    return await world.register("bob", first_name="Bob", last_name="Builder")


@pytest.fixture
async def carol(world: World) -> Person:
    return await world.register("carol")


async def deactivate(world: World, user: User) -> None:
    async def work(uow: UnitOfWork) -> None:
        await uow.users.update(dataclasses.replace(user, is_active=False))

    await world.core.ctx.storage.run(work)


def amounts(wallet: Account) -> tuple[int, int, int, int]:
    """(balance, available, held, pending_incoming) in minor units."""
    return wallet.balance, wallet.available, wallet.held, wallet.pending_incoming


def entries_of(world: World, transaction_id: UUID) -> list[tuple[UUID, Column, int]]:
    return sorted(
        (
            (e.account_id, e.column, e.delta)
            for e in world.storage.state.entries.values()
            if e.transaction_id == transaction_id
        ),
        key=lambda line: (line[0].bytes, line[1].value),
    )


def outbox_kinds(world: World) -> list[tuple[str, UUID]]:
    events = sorted(world.storage.state.outbox.values(), key=lambda e: (e.created_at, e.id.bytes))
    return [(e.kind, e.user_id) for e in events]


# Registration -----------------------------------------------------------------------------------


async def test_register_creates_the_user_and_a_first_wallet(world: World) -> None:
    user, wallet = await world.core.auth.register(
        Registration(
            email="  Dora@Example.COM ",
            username="dora",
            password=PASSWORD,
            phone_number="+1 (415) 555-0199",
            first_name=" Dora ",
            date_of_birth=date(1990, 5, 17),
        )
    )
    assert (user.email, user.username, user.phone_number) == (
        "dora@example.com",
        "dora",
        "+14155550199",
    )
    assert user.first_name == "Dora"
    assert user.password_hash != PASSWORD
    assert PASSWORD not in user.password_hash
    assert not user.is_staff
    assert user.is_active
    assert (wallet.owner_id, wallet.owner_username, wallet.currency) == (user.id, "dora", "USD")
    assert amounts(wallet) == (0, 0, 0, 0)
    assert wallet.is_active
    me = await world.core.auth.me(world.core.auth.authenticate(await access_token(world, "dora")))
    assert me == user


async def test_register_opens_the_first_wallet_in_the_chosen_currency(world: World) -> None:
    person = await world.register("eve", currency="eur")
    assert person.wallet.currency == "EUR"


async def access_token(world: World, login: str) -> str:
    return (await world.core.auth.login(login, PASSWORD)).access_token


@pytest.mark.parametrize(
    "duplicate",
    [
        Registration("ALICE@example.COM", "someone", PASSWORD, "+14155550198"),
        Registration("new@example.com", "ALICE", PASSWORD, "+14155550197"),
        Registration("new@example.com", "someone", PASSWORD, "001 415 555 0199"),
    ],
    ids=["email-any-case", "username-any-case", "phone-any-format"],
)
async def test_register_refuses_a_taken_email_username_or_phone(
    world: World, duplicate: Registration
) -> None:
    await world.core.auth.register(
        Registration("alice@example.com", "alice", PASSWORD, "+14155550199")
    )
    with pytest.raises(AlreadyExists) as caught:
        await world.core.auth.register(duplicate)
    assert caught.value.code == "already_exists"
    # Nothing half-created: still only admin and alice, with one wallet each.
    users = await world.core.auth.list_users(world.staff, UserQuery(UserFilter()))
    wallets = await world.core.wallets.list(world.staff, WalletListParams())
    assert [u.username for u in users.items] == ["admin", "alice"]
    assert wallets.count == 2


@pytest.mark.parametrize(
    ("registration", "error", "code"),
    [
        (
            Registration("x@example.com", "xavier", "password123", "+14155550190"),
            WeakPassword,
            "weak_password",
        ),
        (
            Registration("x@example.com", "xavier", "xavier2026!", "+14155550190"),
            WeakPassword,
            "weak_password",
        ),
        (
            Registration("not-an-email", "xavier", PASSWORD, "+14155550190"),
            ValidationFailed,
            "validation_error",
        ),
        (
            Registration("x@example.com", "x", PASSWORD, "+14155550190"),
            ValidationFailed,
            "validation_error",
        ),
        (
            Registration("x@example.com", "xavier", PASSWORD, "0415555"),
            ValidationFailed,
            "validation_error",
        ),
        (
            Registration(
                "x@example.com", "xavier", PASSWORD, "+14155550190", date_of_birth=date(2026, 1, 2)
            ),
            ValidationFailed,
            "validation_error",
        ),
        (
            Registration("x@example.com", "xavier", PASSWORD, "+14155550190", currency="JPY"),
            UnsupportedCurrency,
            "unsupported_currency",
        ),
    ],
    ids=["common", "like-username", "email", "username", "phone", "born-tomorrow", "currency"],
)
async def test_register_refuses_invalid_forms(
    world: World, registration: Registration, error: type[DomainError], code: str
) -> None:
    with pytest.raises(error) as caught:
        await world.core.auth.register(registration)
    assert caught.value.code == code
    with pytest.raises(InvalidCredentials):
        await world.core.auth.login("x@example.com", registration.password)


# Login, tokens, logout --------------------------------------------------------------------------


async def test_login_by_email_or_username_in_any_case(world: World, alice: Person) -> None:
    for login in ("alice@example.com", "ALICE@Example.com", "alice", " Alice "):
        pair = await world.core.auth.login(login, PASSWORD)
        assert pair.token_type == "bearer"
        assert pair.expires_in == 1800
        actor = world.core.auth.authenticate(pair.access_token)
        assert actor == alice.actor


async def test_staff_tokens_say_staff(world: World) -> None:
    actor = world.core.auth.authenticate(await access_token(world, "admin"))
    assert actor.is_staff
    assert actor.user_id == world.staff.user_id


async def test_login_refuses_unknown_users_wrong_passwords_and_inactive_users(
    world: World, alice: Person, bob: Person
) -> None:
    await deactivate(world, bob.user)
    attempts = [("nobody@example.com", PASSWORD), ("alice", PASSWORD + "x"), ("bob", PASSWORD)]
    messages = set()
    for login, password in attempts:
        with pytest.raises(InvalidCredentials) as caught:
            await world.core.auth.login(login, password)
        assert caught.value.code == "invalid_credentials"
        messages.add(caught.value.message)
    assert len(messages) == 1  # the same answer whether the user exists or not
    with pytest.raises(InvalidCredentials):
        await world.core.auth.login("", PASSWORD)


async def test_access_tokens_expire_and_cannot_be_forged(world: World, alice: Person) -> None:
    token = await access_token(world, "alice")
    world.advance(minutes=29)
    assert world.core.auth.authenticate(token) == alice.actor
    head, body, signature = token.split(".")
    for forged in (f"{head}.{body}.{signature[::-1]}", "garbage", f"{head}.{body}", ""):
        with pytest.raises(NotAuthenticated) as caught:
            world.core.auth.authenticate(forged)
        assert caught.value.code == "not_authenticated"
    world.advance(minutes=1)
    with pytest.raises(NotAuthenticated):
        world.core.auth.authenticate(token)


async def test_refresh_rotates_and_reuse_revokes_the_family(world: World, alice: Person) -> None:
    first = await world.core.auth.login("alice", PASSWORD)
    other_session = await world.core.auth.login("alice", PASSWORD)
    second = await world.core.auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert world.core.auth.authenticate(second.access_token) == alice.actor
    third = await world.core.auth.refresh(second.refresh_token)

    # The rotated token is dead, and presenting it kills the whole family (theft detection).
    with pytest.raises(TokenRevoked) as caught:
        await world.core.auth.refresh(first.refresh_token)
    assert caught.value.code == "token_revoked"
    with pytest.raises(TokenRevoked):
        await world.core.auth.refresh(third.refresh_token)
    # Another family (another login) is untouched.
    assert await world.core.auth.refresh(other_session.refresh_token)


async def test_refresh_refuses_unknown_and_expired_tokens(world: World, alice: Person) -> None:
    with pytest.raises(NotAuthenticated) as caught:
        await world.core.auth.refresh("rt_not-a-token")
    assert caught.value.code == "not_authenticated"
    pair = await world.core.auth.login("alice", PASSWORD)
    world.advance(days=1)
    with pytest.raises(NotAuthenticated) as caught:
        await world.core.auth.refresh(pair.refresh_token)
    assert caught.value.code == "not_authenticated"


async def test_refresh_refuses_an_inactive_user(world: World, alice: Person) -> None:
    pair = await world.core.auth.login("alice", PASSWORD)
    await deactivate(world, alice.user)
    with pytest.raises(NotAuthenticated):
        await world.core.auth.refresh(pair.refresh_token)
    with pytest.raises(NotAuthenticated):
        await world.core.auth.me(alice.actor)


async def test_logout_revokes_that_family_only(world: World, alice: Person, bob: Person) -> None:
    pair = await world.core.auth.login("alice", PASSWORD)
    rotated = await world.core.auth.refresh(pair.refresh_token)
    other = await world.core.auth.login("alice", PASSWORD)
    bobs = await world.core.auth.login("bob", PASSWORD)

    await world.core.auth.logout(alice.actor, rotated.refresh_token)
    await world.core.auth.logout(alice.actor, bobs.refresh_token)  # not hers: no effect
    await world.core.auth.logout(alice.actor, "rt_unknown")  # unknown: no effect

    with pytest.raises(TokenRevoked):
        await world.core.auth.refresh(rotated.refresh_token)
    assert await world.core.auth.refresh(other.refresh_token)
    assert await world.core.auth.refresh(bobs.refresh_token)


# Profiles ---------------------------------------------------------------------------------------


async def test_update_me_changes_names_and_date_of_birth(world: World, alice: Person) -> None:
    world.advance(hours=1)
    updated = await world.core.auth.update_me(
        alice.actor,
        ProfileChanges(first_name=" Alicia ", date_of_birth=date(1990, 1, 1)),
    )
    assert (updated.first_name, updated.last_name) == ("Alicia", "Liddell")
    assert updated.date_of_birth == date(1990, 1, 1)
    assert updated.updated_at == START + timedelta(hours=1)
    assert await world.core.auth.me(alice.actor) == updated

    cleared = await world.core.auth.update_me(alice.actor, ProfileChanges(clear_date_of_birth=True))
    assert cleared.date_of_birth is None
    assert cleared.first_name == "Alicia"

    with pytest.raises(ValidationFailed) as caught:
        await world.core.auth.update_me(alice.actor, ProfileChanges(date_of_birth=date(2030, 1, 1)))
    assert [e.field for e in caught.value.errors] == ["date_of_birth"]


async def test_changing_the_password_needs_the_current_one(world: World, alice: Person) -> None:
    session = await world.core.auth.login("alice", PASSWORD)
    new = "a brand new passphrase"
    with pytest.raises(ValidationFailed) as caught:
        await world.core.auth.update_me(alice.actor, ProfileChanges(password=new))
    assert [e.field for e in caught.value.errors] == ["current_password"]
    with pytest.raises(ValidationFailed) as caught:
        await world.core.auth.update_me(
            alice.actor, ProfileChanges(password=new, current_password="wrong password!")
        )
    assert [e.field for e in caught.value.errors] == ["current_password"]
    with pytest.raises(WeakPassword):
        await world.core.auth.update_me(
            alice.actor, ProfileChanges(password="alice12345", current_password=PASSWORD)
        )
    await world.core.auth.login("alice", PASSWORD)  # nothing changed so far

    await world.core.auth.update_me(
        alice.actor, ProfileChanges(password=new, current_password=PASSWORD)
    )
    await world.core.auth.login("alice", new)
    with pytest.raises(InvalidCredentials):
        await world.core.auth.login("alice", PASSWORD)
    # A new password ends the sessions that knew the old one.
    with pytest.raises(TokenRevoked):
        await world.core.auth.refresh(session.refresh_token)


async def test_list_users_is_for_staff(world: World, alice: Person, bob: Person) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await world.core.auth.list_users(alice.actor, UserQuery(UserFilter()))
    assert caught.value.code == "forbidden"

    everyone = await world.core.auth.list_users(world.staff, UserQuery(UserFilter()))
    assert [u.username for u in everyone.items] == ["admin", "alice", "bob"]
    assert everyone.count == 3

    async def names(f: UserFilter) -> list[str]:
        page = await world.core.auth.list_users(world.staff, UserQuery(f))
        assert page.count == len(page.items)
        return [u.username for u in page.items]

    assert await names(UserFilter(email="BOB@")) == ["bob"]
    assert await names(UserFilter(first_name="ali")) == ["alice"]
    assert await names(UserFilter(last_name="BUILD")) == ["bob"]
    assert await names(UserFilter(is_staff=True)) == ["admin"]
    await deactivate(world, bob.user)
    assert await names(UserFilter(is_active=False)) == ["bob"]
    assert await names(UserFilter(email="example.com", is_staff=False)) == ["alice", "bob"]


# Wallets ----------------------------------------------------------------------------------------


async def test_open_a_wallet_per_currency(world: World, alice: Person) -> None:
    eur = await world.core.wallets.open(alice.actor, "eur")
    assert (eur.currency, eur.owner_id, eur.owner_username) == ("EUR", alice.user.id, "alice")
    for currency in ("EUR", "USD"):
        with pytest.raises(AlreadyExists) as caught:
            await world.core.wallets.open(alice.actor, currency)
        assert caught.value.code == "already_exists"
    with pytest.raises(UnsupportedCurrency):
        await world.core.wallets.open(alice.actor, "JPY")
    mine = await world.core.wallets.list(alice.actor, WalletListParams())
    assert [w.currency for w in mine.items] == ["USD", "EUR"]


async def test_a_wallet_is_visible_to_its_owner_and_staff_only(
    world: World, alice: Person, bob: Person
) -> None:
    assert (await world.core.wallets.get(alice.actor, alice.wallet.id)).id == alice.wallet.id
    assert (await world.core.wallets.get(world.staff, alice.wallet.id)).id == alice.wallet.id
    for wallet_id in (alice.wallet.id, uuid4()):
        with pytest.raises(NotFound) as caught:
            await world.core.wallets.get(bob.actor, wallet_id)
        assert caught.value.code == "not_found"
    # System accounts are not wallets, not even for staff.
    await world.fund(alice.wallet.id, "1.00")
    system_ids = [a.id for a in world.storage.state.accounts.values() if not a.is_wallet]
    assert system_ids
    with pytest.raises(NotFound):
        await world.core.wallets.get(world.staff, system_ids[0])


async def test_only_staff_freeze_wallets(world: World, alice: Person) -> None:
    with pytest.raises(PermissionDenied):
        await world.core.wallets.set_active(alice.actor, alice.wallet.id, False)
    with pytest.raises(NotFound):
        await world.core.wallets.set_active(world.staff, uuid4(), False)
    frozen = await world.core.wallets.set_active(world.staff, alice.wallet.id, False)
    assert not frozen.is_active
    assert not (await world.wallet(alice.wallet.id)).is_active
    again = await world.core.wallets.set_active(world.staff, alice.wallet.id, False)
    assert not again.is_active
    thawed = await world.core.wallets.set_active(world.staff, alice.wallet.id, True)
    assert thawed.is_active


async def test_a_frozen_wallet_cannot_send_receive_or_cash_out(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    await world.fund(bob.wallet.id, "100.00")
    pending = await world.core.transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob"
    )
    await world.core.wallets.set_active(world.staff, alice.wallet.id, False)

    attempts = [
        world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob"),
        world.core.transfers.create_transfer(bob.actor, amount="1.00", recipient="alice"),
        world.core.cashouts.request(alice.actor, amount="1.00"),
        world.fund(alice.wallet.id, "1.00"),
        world.core.transactions.act(bob.actor, pending.id, "accept"),
        world.core.deposits.paysend(ProviderDeposit("ps-frozen", "COMPLETED", alice.phone, "1.00")),
    ]
    for attempt in attempts:
        with pytest.raises(WalletFrozen) as caught:
            await attempt
        assert caught.value.code == "wallet_frozen"

    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 9000, 1000, 0)
    assert amounts(await world.wallet(bob.wallet.id)) == (10000, 10000, 0, 1000)
    # Releasing a hold is still possible: the money goes back to the frozen wallet.
    rejected = await world.core.transactions.act(bob.actor, pending.id, "reject")
    assert rejected.status is TransactionStatus.REJECTED
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)

    await world.core.wallets.set_active(world.staff, alice.wallet.id, True)
    sent = await world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")
    assert sent.status is TransactionStatus.PENDING


async def test_wallet_list_filters_orders_and_pages(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await world.fund(alice.wallet.id, "90.00")
    await world.fund(bob.wallet.id, "10.00")
    eur = await world.core.wallets.open(carol.actor, "EUR")

    async def owners(actor: object = None, **params: object) -> list[str]:
        page = await world.core.wallets.list(
            actor or world.staff,  # type: ignore[arg-type]
            WalletListParams(**params),  # type: ignore[arg-type]
        )
        return [f"{w.owner_username}:{w.currency}" for w in page.items]

    everyone = ["admin:USD", "alice:USD", "bob:USD", "carol:USD", "carol:EUR"]
    assert await owners() == everyone
    assert await owners(alice.actor) == ["alice:USD"]
    assert await owners(alice.actor, user="bob") == []
    assert await owners(user="BOB") == ["bob:USD"]
    assert await owners(user=str(carol.user.id)) == ["carol:USD", "carol:EUR"]
    assert await owners(user="nobody") == []
    assert await owners(currency="eur") == ["carol:EUR"]
    assert await owners(balance_min="10.00") == ["alice:USD", "bob:USD"]
    assert await owners(balance_max="0") == ["admin:USD", "carol:USD", "carol:EUR"]
    assert await owners(balance_min="-5", balance_max="10") == [
        "admin:USD",
        "bob:USD",
        "carol:USD",
        "carol:EUR",
    ]
    assert await owners(ordering="-balance") == [
        "alice:USD",
        "bob:USD",
        "carol:EUR",  # equal balances: ties broken by id, in the last key's direction
        "carol:USD",
        "admin:USD",
    ]
    assert await owners(ordering="-username") == [
        "carol:EUR",
        "carol:USD",
        "bob:USD",
        "alice:USD",
        "admin:USD",
    ]
    await world.core.wallets.set_active(world.staff, eur.id, False)
    assert await owners(is_active=False) == ["carol:EUR"]
    assert await owners(ordering="is_active,username") == [
        "carol:EUR",
        "admin:USD",
        "alice:USD",
        "bob:USD",
        "carol:USD",
    ]

    first = await world.core.wallets.list(world.staff, WalletListParams(page_size=2))
    assert (first.count, first.has_next, first.page) == (5, True, 1)
    walked = [w.id for w in first.items]
    cursor = first.next_cursor
    while cursor is not None:
        page = await world.core.wallets.list(
            world.staff, WalletListParams(page_size=2, cursor=cursor)
        )
        assert page.count is None
        walked += [w.id for w in page.items]
        cursor = page.next_cursor
    assert walked == [
        w.id for w in (await world.core.wallets.list(world.staff, WalletListParams())).items
    ]

    for bad in (
        WalletListParams(ordering="owner"),
        WalletListParams(balance_min="ten"),
        WalletListParams(page_size=0),
        WalletListParams(cursor="nonsense"),
    ):
        with pytest.raises(ValidationFailed):
            await world.core.wallets.list(world.staff, bad)


# Creating transfers -----------------------------------------------------------------------------


async def test_create_transfer_holds_the_amount_until_accepted(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    world.advance(minutes=5)
    transaction = await world.core.transfers.create_transfer(
        alice.actor, amount="25.50", recipient="bob", description="  dinner  "
    )
    assert transaction.status is TransactionStatus.PENDING
    assert transaction.type is TransactionType.TRANSFER
    assert transaction.funding_source is FundingSource.INTERNAL
    assert (transaction.amount, transaction.currency, transaction.description) == (
        2550,
        "USD",
        "dinner",
    )
    assert transaction.reference.startswith("TRF-")
    assert transaction.created_at == START + timedelta(minutes=5)
    assert transaction.expires_at == transaction.created_at + timedelta(hours=24)
    assert transaction.completed_at is None
    assert transaction.sender is not None and transaction.recipient is not None
    assert (
        transaction.sender.user_id,
        transaction.sender.username,
        transaction.sender.wallet_id,
    ) == (
        alice.user.id,
        "alice",
        alice.wallet.id,
    )
    assert (transaction.recipient.username, transaction.recipient.wallet_id) == (
        "bob",
        bob.wallet.id,
    )
    assert (transaction.debit_account_id, transaction.credit_account_id) == (
        alice.wallet.id,
        bob.wallet.id,
    )
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 7450, 2550, 0)
    assert amounts(await world.wallet(bob.wallet.id)) == (0, 0, 0, 2550)
    assert entries_of(world, transaction.id) == sorted(
        [
            (alice.wallet.id, Column.DEBITS_PENDING, 2550),
            (bob.wallet.id, Column.CREDITS_PENDING, 2550),
        ],
        key=lambda line: (line[0].bytes, line[1].value),
    )
    # Both parties see the one transaction.
    assert (await world.core.transactions.get(bob.actor, transaction.id)) == transaction
    assert (await world.core.transactions.get(alice.actor, transaction.id)) == transaction


async def test_recipient_by_username_phone_or_wallet_id(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    digits = bob.phone.removeprefix("+")
    recipients = [
        "bob",
        "BOB",
        " bob ",
        bob.phone,
        digits,
        "+" + " ".join([digits[:1], digits[1:4], digits[4:7], digits[7:]]),
        str(bob.wallet.id),
    ]
    for recipient in recipients:
        transaction = await world.core.transfers.create_transfer(
            alice.actor, amount="1.00", recipient=recipient
        )
        assert transaction.credit_account_id == bob.wallet.id, recipient
    assert amounts(await world.wallet(bob.wallet.id))[3] == 100 * len(recipients)


async def test_recipient_in_another_currency_by_wallet_id_or_source_wallet(
    world: World, alice: Person, bob: Person
) -> None:
    alice_eur = await world.core.wallets.open(alice.actor, "EUR")
    bob_eur = await world.core.wallets.open(bob.actor, "EUR")
    await world.fund(alice_eur.id, "50.00")
    by_wallet = await world.core.transfers.create_transfer(
        alice.actor, amount="5.00", recipient=str(bob_eur.id)
    )
    by_source = await world.core.transfers.create_transfer(
        alice.actor, amount="5.00", recipient="bob", wallet_id=alice_eur.id
    )
    for transaction in (by_wallet, by_source):
        assert (transaction.debit_account_id, transaction.credit_account_id) == (
            alice_eur.id,
            bob_eur.id,
        )
        assert transaction.currency == "EUR"


async def test_create_transfer_refuses_unknown_or_inactive_recipients(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    await deactivate(world, bob.user)
    system_id = next(a.id for a in world.storage.state.accounts.values() if not a.is_wallet)
    for recipient in ("nobody", "+19995550000", str(uuid4()), str(system_id), "bob", bob.phone):
        with pytest.raises(RecipientNotFound) as caught:
            await world.core.transfers.create_transfer(
                alice.actor, amount="1.00", recipient=recipient
            )
        assert caught.value.code == "recipient_not_found", recipient


async def test_create_transfer_refuses_currency_mismatch(
    world: World, alice: Person, bob: Person
) -> None:
    eve = await world.register("eve", currency="EUR")
    alice_eur = await world.core.wallets.open(alice.actor, "EUR")
    bob_eur = await world.core.wallets.open(bob.actor, "EUR")
    await world.fund(alice.wallet.id, "100.00")
    await world.fund(alice_eur.id, "100.00")
    await world.fund(bob.wallet.id, "100.00")
    cases = [
        # eve has only a EUR wallet; alice insists on sending from her USD wallet
        (alice.actor, {"recipient": "eve", "wallet_id": alice.wallet.id}),
        # a EUR wallet named as the recipient, a USD source wallet
        (alice.actor, {"recipient": str(bob_eur.id), "wallet_id": alice.wallet.id}),
        (bob.actor, {"recipient": str(eve.wallet.id), "wallet_id": bob.wallet.id}),
    ]
    for actor, kwargs in cases:
        with pytest.raises(CurrencyMismatch) as caught:
            await world.core.transfers.create_transfer(actor, amount="1.00", **kwargs)  # type: ignore[arg-type]
        assert caught.value.code == "currency_mismatch"
    dave = await world.register("dave")
    await world.fund(dave.wallet.id, "10.00")
    with pytest.raises(CurrencyMismatch):  # dave has no EUR wallet to send from
        await world.core.transfers.create_transfer(dave.actor, amount="1.00", recipient="eve")


async def test_create_transfer_refuses_the_same_wallet(world: World, alice: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    for kwargs in (
        {"recipient": "alice"},
        {"recipient": alice.phone},
        {"recipient": str(alice.wallet.id)},
        {"recipient": "alice", "wallet_id": alice.wallet.id},
    ):
        with pytest.raises(SameWallet) as caught:
            await world.core.transfers.create_transfer(alice.actor, amount="1.00", **kwargs)  # type: ignore[arg-type]
        assert caught.value.code == "same_wallet"
    # Between two of one's own wallets in one currency is impossible (one wallet per currency);
    # asking for a currency alice lacks at the recipient (herself) is the same wallet problem.
    eur = await world.core.wallets.open(alice.actor, "EUR")
    await world.fund(eur.id, "1.00")
    with pytest.raises(SameWallet):
        await world.core.transfers.create_transfer(
            alice.actor, amount="1.00", recipient="alice", wallet_id=eur.id
        )


async def test_create_transfer_needs_a_source_wallet_of_ones_own(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(bob.wallet.id, "100.00")
    with pytest.raises(NotFound):
        await world.core.transfers.create_transfer(
            alice.actor, amount="1.00", recipient="bob", wallet_id=bob.wallet.id
        )
    with pytest.raises(NotFound):
        await world.core.transfers.create_transfer(
            alice.actor, amount="1.00", recipient="bob", wallet_id=uuid4()
        )


async def test_create_transfer_refuses_more_than_available(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "30.00")
    await world.core.transfers.create_transfer(alice.actor, amount="20.00", recipient="bob")
    with pytest.raises(InsufficientFunds) as caught:
        await world.core.transfers.create_transfer(alice.actor, amount="10.01", recipient="bob")
    assert caught.value.code == "insufficient_funds"
    last = await world.core.transfers.create_transfer(alice.actor, amount="10.00", recipient="bob")
    assert last.status is TransactionStatus.PENDING
    assert amounts(await world.wallet(alice.wallet.id)) == (3000, 0, 3000, 0)
    with pytest.raises(InsufficientFunds):
        await world.core.transfers.create_transfer(alice.actor, amount="0.01", recipient="bob")


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00", "1.001", "abc", "", 10.5, 10])
async def test_create_transfer_refuses_invalid_amounts(
    world: World, alice: Person, bob: Person, amount: object
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    with pytest.raises(InvalidAmount) as caught:
        await world.core.transfers.create_transfer(
            alice.actor,
            amount=amount,  # type: ignore[arg-type]
            recipient="bob",
        )
    assert caught.value.code == "invalid_amount"
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)


async def test_create_transfer_limits_the_description(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    with pytest.raises(ValidationFailed) as caught:
        await world.core.transfers.create_transfer(
            alice.actor, amount="1.00", recipient="bob", description="x" * 141
        )
    assert caught.value.code == "validation_error"
    assert [e.field for e in caught.value.errors] == ["description"]
    ok = await world.core.transfers.create_transfer(
        alice.actor, amount="1.00", recipient="bob", description="x" * 140
    )
    assert ok.description == "x" * 140


# Acting on transfers ----------------------------------------------------------------------------


@pytest.fixture
async def pending(world: World, alice: Person, bob: Person) -> Transaction:
    """alice (100.00 USD) sent bob 40.00 USD, not yet accepted."""
    await world.fund(alice.wallet.id, "100.00")
    return await world.core.transfers.create_transfer(alice.actor, amount="40.00", recipient="bob")


async def test_accept_posts_the_transfer(
    world: World, alice: Person, bob: Person, pending: Transaction
) -> None:
    world.advance(hours=1)
    done = await world.core.transactions.act(bob.actor, pending.id, "accept")
    assert done.status is TransactionStatus.COMPLETED
    assert done.completed_at == done.updated_at == START + timedelta(hours=1)
    assert amounts(await world.wallet(alice.wallet.id)) == (6000, 6000, 0, 0)
    assert amounts(await world.wallet(bob.wallet.id)) == (4000, 4000, 0, 0)
    assert len(entries_of(world, pending.id)) == 6
    assert await world.transaction(pending.id) == done


@pytest.mark.parametrize(
    ("who", "action", "status"),
    [
        ("bob", "reject", TransactionStatus.REJECTED),
        ("alice", "cancel", TransactionStatus.CANCELLED),
    ],
)
async def test_reject_and_cancel_release_the_hold(
    world: World,
    alice: Person,
    bob: Person,
    pending: Transaction,
    who: str,
    action: str,
    status: TransactionStatus,
) -> None:
    actor = {"alice": alice, "bob": bob}[who].actor
    done = await world.core.transactions.act(actor, pending.id, action)
    assert done.status is status
    assert done.completed_at is None
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)
    assert amounts(await world.wallet(bob.wallet.id)) == (0, 0, 0, 0)
    assert len(entries_of(world, pending.id)) == 4


async def test_only_the_right_party_may_act(
    world: World, alice: Person, bob: Person, carol: Person, pending: Transaction
) -> None:
    wrong = [
        (alice.actor, "accept"),
        (alice.actor, "reject"),
        (bob.actor, "cancel"),
        (carol.actor, "accept"),
        (carol.actor, "reject"),
        (carol.actor, "cancel"),
        (world.staff, "accept"),
        (world.staff, "cancel"),
    ]
    for actor, action in wrong:
        with pytest.raises(NotFound) as caught:
            await world.core.transactions.act(actor, pending.id, action)
        assert caught.value.code == "not_found"
    with pytest.raises(NotFound):
        await world.core.transactions.act(bob.actor, uuid4(), "accept")
    with pytest.raises(NotFound):
        await world.core.transactions.get(carol.actor, pending.id)
    assert (await world.transaction(pending.id)).status is TransactionStatus.PENDING


async def test_unknown_action(world: World, bob: Person, pending: Transaction) -> None:
    with pytest.raises(ValidationFailed):
        await world.core.transactions.act(bob.actor, pending.id, "approve")


async def test_a_finished_transfer_is_not_pending(
    world: World, alice: Person, bob: Person, pending: Transaction
) -> None:
    await world.core.transactions.act(bob.actor, pending.id, "accept")
    for actor, action in ((bob.actor, "accept"), (bob.actor, "reject"), (alice.actor, "cancel")):
        with pytest.raises(NotPending) as caught:
            await world.core.transactions.act(actor, pending.id, action)
        assert caught.value.code == "not_pending"
    assert amounts(await world.wallet(bob.wallet.id)) == (4000, 4000, 0, 0)
    assert len(entries_of(world, pending.id)) == 6


@pytest.mark.parametrize("action", ["accept", "reject", "cancel"])
async def test_acting_after_expiry_expires_the_transfer(
    world: World, alice: Person, bob: Person, pending: Transaction, action: str
) -> None:
    assert pending.expires_at is not None
    world.clock.advance(pending.expires_at - world.clock.now())  # exactly at expires_at
    actor = alice.actor if action == "cancel" else bob.actor
    with pytest.raises(Expired) as caught:
        await world.core.transactions.act(actor, pending.id, action)
    assert caught.value.code == "expired"
    expired = await world.transaction(pending.id)
    assert expired.status is TransactionStatus.EXPIRED
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)
    assert amounts(await world.wallet(bob.wallet.id)) == (0, 0, 0, 0)
    with pytest.raises(NotPending):
        await world.core.transactions.act(actor, pending.id, action)
    assert await world.core.expiry.expire_due() == 0
    assert len(entries_of(world, pending.id)) == 4
    expired_events = [k for k in outbox_kinds(world) if k[0] == NotificationKind.TRANSFER_EXPIRED]
    assert expired_events == [
        (NotificationKind.TRANSFER_EXPIRED, alice.user.id),
        (NotificationKind.TRANSFER_EXPIRED, bob.user.id),
    ]


async def test_concurrent_spending_never_overdraws(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    requested = [700] * 30 + [300] * 5
    results = await asyncio.gather(
        *(
            world.core.transfers.create_transfer(alice.actor, amount="7.00", recipient="bob")
            for _ in range(30)
        ),
        *(world.core.cashouts.request(alice.actor, amount="3.00") for _ in range(5)),
        return_exceptions=True,
    )
    held = [n for n, r in zip(requested, results, strict=True) if not isinstance(r, Exception)]
    refused = [n for n, r in zip(requested, results, strict=True) if isinstance(r, Exception)]
    assert all(isinstance(r, InsufficientFunds) for r in results if isinstance(r, Exception)), (
        results
    )
    wallet = await world.wallet(alice.wallet.id)
    assert wallet.held == sum(held)
    assert wallet.available == 10000 - sum(held) >= 0
    # Available only went down, so every refusal was justified to the end.
    assert refused and wallet.available < min(refused)


async def test_racing_actions_change_a_transfer_once(
    world: World, alice: Person, bob: Person, pending: Transaction
) -> None:
    results = await asyncio.gather(
        world.core.transactions.act(bob.actor, pending.id, "accept"),
        world.core.transactions.act(bob.actor, pending.id, "reject"),
        world.core.transactions.act(alice.actor, pending.id, "cancel"),
        world.core.transactions.act(bob.actor, pending.id, "accept"),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Transaction)]
    assert len(winners) == 1
    assert all(isinstance(r, NotPending) for r in results if r not in winners)
    assert (await world.transaction(pending.id)).status is winners[0].status
    assert len(entries_of(world, pending.id)) in (4, 6)


async def test_expiry_racing_an_accept_expires_once(
    world: World, alice: Person, bob: Person, pending: Transaction
) -> None:
    assert pending.expires_at is not None
    world.clock.advance(pending.expires_at - world.clock.now())
    expired, accepted = await asyncio.gather(
        world.core.expiry.expire_due(),
        world.core.transactions.act(bob.actor, pending.id, "accept"),
        return_exceptions=True,
    )
    # Whoever ran first expired it; the other saw it pending-but-due or already expired.
    assert (expired, type(accepted)) in ((1, NotPending), (0, Expired))
    assert (await world.transaction(pending.id)).status is TransactionStatus.EXPIRED
    assert len(entries_of(world, pending.id)) == 4
    assert [k for k, _ in outbox_kinds(world)].count(NotificationKind.TRANSFER_EXPIRED) == 2
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)


# Deposits ---------------------------------------------------------------------------------------


async def test_staff_deposit(world: World, alice: Person) -> None:
    deposit = await world.core.deposits.manual(
        world.staff, amount="12.34", wallet_id=alice.wallet.id, description="cash at the desk"
    )
    assert deposit.type is TransactionType.DEPOSIT
    assert deposit.status is TransactionStatus.COMPLETED
    assert deposit.funding_source is FundingSource.MANUAL
    assert deposit.completed_at == deposit.created_at
    assert deposit.sender is None
    assert deposit.recipient is not None and deposit.recipient.wallet_id == alice.wallet.id
    assert deposit.reference.startswith("DEP-")
    assert amounts(await world.wallet(alice.wallet.id)) == (1234, 1234, 0, 0)
    manual = next(
        a for a in world.storage.state.accounts.values() if a.source is FundingSource.MANUAL
    )
    assert (manual.currency, manual.balance) == ("USD", -1234)
    assert await world.core.transactions.get(alice.actor, deposit.id) == deposit


async def test_deposit_is_staff_only_and_validated(world: World, alice: Person) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await world.core.deposits.manual(alice.actor, amount="10.00", wallet_id=alice.wallet.id)
    assert caught.value.code == "forbidden"
    with pytest.raises(NotFound):
        await world.core.deposits.manual(world.staff, amount="10.00", wallet_id=uuid4())
    with pytest.raises(InvalidAmount):
        await world.core.deposits.manual(world.staff, amount="0", wallet_id=alice.wallet.id)
    with pytest.raises(ValidationFailed):
        await world.core.deposits.manual(
            world.staff, amount="1.00", wallet_id=alice.wallet.id, description="x" * 141
        )
    assert amounts(await world.wallet(alice.wallet.id)) == (0, 0, 0, 0)


async def test_paysend_ignores_unfinished_payments(world: World, alice: Person) -> None:
    for status in ("PENDING", "FAILED", "completed", ""):
        outcome = await world.core.deposits.paysend(
            ProviderDeposit("ps-1", status, alice.phone, "10.00")
        )
        assert (outcome.status, outcome.transaction) == ("ignored", None)
    assert amounts(await world.wallet(alice.wallet.id)) == (0, 0, 0, 0)


async def test_paysend_credits_once_per_provider_id(world: World, alice: Person) -> None:
    first = await world.core.deposits.paysend(
        ProviderDeposit("ps-42", "COMPLETED", "00" + alice.phone[1:], "10.00")
    )
    assert first.status == "processed"
    assert first.transaction is not None
    assert first.transaction.funding_source is FundingSource.PAYSEND
    assert first.transaction.provider_id == "ps-42"
    assert first.transaction.recipient is not None
    assert first.transaction.recipient.wallet_id == alice.wallet.id
    for retry in (
        ProviderDeposit("ps-42", "COMPLETED", alice.phone, "10.00"),
        ProviderDeposit("ps-42", "COMPLETED", alice.phone, "999.00"),  # the first one counts
    ):
        again = await world.core.deposits.paysend(retry)
        assert again.status == "processed"
        assert again.transaction == first.transaction
    assert amounts(await world.wallet(alice.wallet.id)) == (1000, 1000, 0, 0)
    second = await world.core.deposits.paysend(
        ProviderDeposit("ps-43", "COMPLETED", alice.phone, "5.00")
    )
    assert second.transaction is not None and second.transaction.id != first.transaction.id
    assert amounts(await world.wallet(alice.wallet.id)) == (1500, 1500, 0, 0)


async def test_paysend_in_a_chosen_currency(world: World, alice: Person) -> None:
    eur = await world.core.wallets.open(alice.actor, "EUR")
    outcome = await world.core.deposits.paysend(
        ProviderDeposit("ps-eur", "COMPLETED", alice.phone, "7.00", currency="eur")
    )
    assert outcome.transaction is not None
    assert outcome.transaction.credit_account_id == eur.id
    assert amounts(await world.wallet(eur.id)) == (700, 700, 0, 0)
    with pytest.raises(RecipientNotFound):
        await world.core.deposits.paysend(
            ProviderDeposit("ps-gbp", "COMPLETED", alice.phone, "7.00", currency="GBP")
        )
    with pytest.raises(UnsupportedCurrency):
        await world.core.deposits.paysend(
            ProviderDeposit("ps-jpy", "COMPLETED", alice.phone, "7", currency="JPY")
        )


async def test_paysend_refuses_unknown_recipients_and_bad_input(
    world: World, alice: Person, bob: Person
) -> None:
    await deactivate(world, bob.user)
    for phone in ("+19995550000", bob.phone):
        with pytest.raises(RecipientNotFound) as caught:
            await world.core.deposits.paysend(ProviderDeposit("ps-x", "COMPLETED", phone, "1.00"))
        assert caught.value.code == "recipient_not_found"
    with pytest.raises(ValidationFailed):
        await world.core.deposits.paysend(ProviderDeposit("ps-x", "COMPLETED", "123", "1.00"))
    with pytest.raises(InvalidAmount):
        await world.core.deposits.paysend(
            ProviderDeposit("ps-x", "COMPLETED", alice.phone, "1.001")
        )
    # None of the refusals consumed the provider id.
    ok = await world.core.deposits.paysend(ProviderDeposit("ps-x", "COMPLETED", alice.phone, "1"))
    assert ok.transaction is not None and ok.transaction.amount == 100


# Cash-outs --------------------------------------------------------------------------------------


async def test_cash_out_request_holds_funds_and_stores_only_a_digest(
    world: World, alice: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="30.00")
    code, transaction = cashout.withdrawal_code, cashout.transaction
    assert len(code) == 10
    assert set(code) <= set(CODE_ALPHABET)
    assert transaction.type is TransactionType.WITHDRAWAL
    assert transaction.status is TransactionStatus.PENDING
    assert transaction.funding_source is FundingSource.BLF_ATM
    assert transaction.reference.startswith("WDR-")
    assert transaction.expires_at == transaction.created_at + timedelta(minutes=30)
    assert transaction.recipient is None
    assert transaction.sender is not None and transaction.sender.wallet_id == alice.wallet.id
    assert transaction.code_digest == hmac.new(SECRET, code.encode(), hashlib.sha256).hexdigest()
    stored = await world.transaction(transaction.id)
    assert code not in repr(stored)
    assert all(code not in str(value) for value in dataclasses.astuple(stored))
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 7000, 3000, 0)
    sink = next(
        a for a in world.storage.state.accounts.values() if a.source is FundingSource.BLF_ATM
    )
    assert sink.credits_pending == 3000


async def test_cash_out_verify_posts_the_hold(world: World, alice: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="30.00")
    code = cashout.withdrawal_code
    sloppy = f" {code[:5].lower()}-{code[5:].lower()} "
    world.advance(minutes=29)
    done = await world.core.cashouts.verify(alice.phone.removeprefix("+"), sloppy)
    assert done.status is TransactionStatus.COMPLETED
    assert done.id == cashout.transaction.id
    assert amounts(await world.wallet(alice.wallet.id)) == (7000, 7000, 0, 0)
    sink = next(
        a for a in world.storage.state.accounts.values() if a.source is FundingSource.BLF_ATM
    )
    assert (sink.balance, sink.credits_pending) == (3000, 0)
    with pytest.raises(NotPending) as caught:
        await world.core.cashouts.verify(alice.phone, code)
    assert caught.value.code == "not_pending"
    assert amounts(await world.wallet(alice.wallet.id)) == (7000, 7000, 0, 0)


async def test_cash_out_from_a_chosen_wallet(world: World, alice: Person, bob: Person) -> None:
    eur = await world.core.wallets.open(alice.actor, "EUR")
    await world.fund(eur.id, "10.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="10.00", wallet_id=eur.id)
    assert cashout.transaction.currency == "EUR"
    assert amounts(await world.wallet(eur.id)) == (1000, 0, 1000, 0)
    with pytest.raises(NotFound):
        await world.core.cashouts.request(bob.actor, amount="1.00", wallet_id=eur.id)
    with pytest.raises(InsufficientFunds):
        await world.core.cashouts.request(alice.actor, amount="0.01", wallet_id=eur.id)
    with pytest.raises(InsufficientFunds):
        await world.core.cashouts.request(alice.actor, amount="0.01")  # her USD wallet is empty
    with pytest.raises(InvalidAmount):
        await world.core.cashouts.request(alice.actor, amount="-1", wallet_id=eur.id)


async def test_wrong_codes_count_and_the_fifth_cancels(world: World, alice: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="30.00")
    for attempt in range(1, 5):
        with pytest.raises(InvalidWithdrawalCode) as caught:
            await world.core.cashouts.verify(alice.phone, "WRONGCODE1")
        assert caught.value.code == "invalid_withdrawal_code"
        current = await world.transaction(cashout.transaction.id)
        assert (current.status, current.failed_attempts) == (TransactionStatus.PENDING, attempt)
    with pytest.raises(TooManyAttempts) as caught_last:
        await world.core.cashouts.verify(alice.phone, "WRONGCODE1")
    assert caught_last.value.code == "too_many_attempts"
    cancelled = await world.transaction(cashout.transaction.id)
    assert cancelled.status is TransactionStatus.CANCELLED
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)
    with pytest.raises(NotPending):
        await world.core.cashouts.verify(alice.phone, cashout.withdrawal_code)
    # With nothing pending, a wrong code is just wrong.
    with pytest.raises(InvalidWithdrawalCode):
        await world.core.cashouts.verify(alice.phone, "WRONGCODE1")
    assert (NotificationKind.CASHOUT_CANCELLED, alice.user.id) in outbox_kinds(world)


async def test_verify_with_an_unknown_phone(world: World, alice: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="30.00")
    for phone in ("+19995550000", "not a phone"):
        with pytest.raises(InvalidWithdrawalCode):
            await world.core.cashouts.verify(phone, cashout.withdrawal_code)
    assert (await world.transaction(cashout.transaction.id)).failed_attempts == 0


async def test_verify_after_expiry(world: World, alice: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="30.00")
    world.advance(minutes=30)
    for _ in range(2):
        with pytest.raises(Expired) as caught:
            await world.core.cashouts.verify(alice.phone, cashout.withdrawal_code)
        assert caught.value.code == "expired"
    assert (await world.transaction(cashout.transaction.id)).status is TransactionStatus.EXPIRED
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)
    assert len(entries_of(world, cashout.transaction.id)) == 4
    assert outbox_kinds(world).count((NotificationKind.CASHOUT_EXPIRED, alice.user.id)) == 1


async def test_cancel_a_cash_out(world: World, alice: Person, bob: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    cashout = await world.core.cashouts.request(alice.actor, amount="30.00")
    for actor, action in ((bob.actor, "cancel"), (alice.actor, "accept"), (alice.actor, "reject")):
        with pytest.raises(NotFound):
            await world.core.transactions.act(actor, cashout.transaction.id, action)
    done = await world.core.transactions.act(alice.actor, cashout.transaction.id, "cancel")
    assert done.status is TransactionStatus.CANCELLED
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)
    with pytest.raises(NotPending):
        await world.core.cashouts.verify(alice.phone, cashout.withdrawal_code)
    assert (NotificationKind.CASHOUT_CANCELLED, alice.user.id) in outbox_kinds(world)


# The expiry job ---------------------------------------------------------------------------------


async def test_expiry_releases_holds_exactly_once(world: World, alice: Person, bob: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    transaction = await world.core.transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob"
    )
    accepted = await world.core.transfers.create_transfer(
        alice.actor, amount="5.00", recipient="bob"
    )
    await world.core.transactions.act(bob.actor, accepted.id, "accept")
    cashout = await world.core.cashouts.request(alice.actor, amount="20.00")
    assert await world.core.expiry.expire_due() == 0

    world.advance(minutes=30)
    assert await world.core.expiry.expire_due() == 1
    assert (await world.transaction(cashout.transaction.id)).status is TransactionStatus.EXPIRED
    assert (await world.transaction(transaction.id)).status is TransactionStatus.PENDING
    assert amounts(await world.wallet(alice.wallet.id)) == (9500, 8500, 1000, 0)

    world.advance(hours=24)
    assert await world.core.expiry.expire_due() == 1
    assert await world.core.expiry.expire_due() == 0
    assert (await world.transaction(transaction.id)).status is TransactionStatus.EXPIRED
    assert (await world.transaction(accepted.id)).status is TransactionStatus.COMPLETED
    assert amounts(await world.wallet(alice.wallet.id)) == (9500, 9500, 0, 0)
    assert amounts(await world.wallet(bob.wallet.id)) == (500, 500, 0, 0)
    for expired in (transaction.id, cashout.transaction.id):
        assert len(entries_of(world, expired)) == 4
    kinds = [k for k in outbox_kinds(world) if k[0].endswith("expired")]
    assert kinds == [
        (NotificationKind.CASHOUT_EXPIRED, alice.user.id),
        (NotificationKind.TRANSFER_EXPIRED, alice.user.id),
        (NotificationKind.TRANSFER_EXPIRED, bob.user.id),
    ]
    with pytest.raises(NotPending):
        await world.core.transactions.act(bob.actor, transaction.id, "accept")


async def test_expiry_works_in_batches(world: World, alice: Person, bob: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    ids = [
        (await world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")).id
        for _ in range(5)
    ]
    world.advance(days=2)
    job = ExpiryService(world.core.ctx, batch_size=2)
    assert await job.expire_due() == 5
    assert await job.expire_due() == 0
    assert {(await world.transaction(i)).status for i in ids} == {TransactionStatus.EXPIRED}
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)


# Listing transactions ---------------------------------------------------------------------------


@pytest.fixture
async def story(world: World, alice: Person, bob: Person, carol: Person) -> dict[str, Transaction]:
    """A known history, one minute apart:
    DEP alice +100, T1 alice->bob 10 (accepted), T2 alice->bob 30 (pending),
    T3 alice->carol 20 (rejected), W1 alice cash-out 5 (pending)."""
    names: dict[str, Transaction] = {"DEP": await world.fund(alice.wallet.id, "100.00")}
    for name, amount, recipient, text in (
        ("T1", "10.00", "bob", "rent"),
        ("T2", "30.00", "bob", "dinner"),
        ("T3", "20.00", "carol", "gift"),
    ):
        world.advance(minutes=1)
        names[name] = await world.core.transfers.create_transfer(
            alice.actor, amount=amount, recipient=recipient, description=text
        )
    world.advance(minutes=1)
    names["W1"] = (await world.core.cashouts.request(alice.actor, amount="5.00")).transaction
    world.advance(minutes=1)
    await world.core.transactions.act(bob.actor, names["T1"].id, "accept")
    await world.core.transactions.act(carol.actor, names["T3"].id, "reject")
    return names


async def test_list_known_answers(
    world: World, alice: Person, bob: Person, carol: Person, story: dict[str, Transaction]
) -> None:
    by_id = {t.id: name for name, t in story.items()}

    async def names(actor: object = None, **params: object) -> list[str]:
        page = await world.core.transactions.list(
            actor or alice.actor,  # type: ignore[arg-type]
            TransactionListParams(**params),  # type: ignore[arg-type]
        )
        assert page.count == len(page.items)
        return [by_id[t.id] for t in page.items]

    minute = timedelta(minutes=1)
    assert await names() == ["W1", "T3", "T2", "T1", "DEP"]
    assert await names(world.staff) == ["W1", "T3", "T2", "T1", "DEP"]
    assert await names(bob.actor) == ["T2", "T1"]
    assert await names(carol.actor) == ["T3"]
    assert await names(types=["transfer"]) == ["T3", "T2", "T1"]
    assert await names(types=["deposit", "withdrawal"]) == ["W1", "DEP"]
    assert await names(statuses=["pending"]) == ["W1", "T2"]
    assert await names(statuses=["completed", "REJECTED"]) == ["T3", "T1", "DEP"]
    assert await names(funding_sources=["manual"]) == ["DEP"]
    assert await names(funding_sources=["blf_atm"]) == ["W1"]
    assert await names(currency="usd") == ["W1", "T3", "T2", "T1", "DEP"]
    assert await names(currency="EUR") == []
    assert await names(wallet=bob.wallet.id) == ["T2", "T1"]
    assert await names(amount_min="10.00", amount_max="20") == ["T3", "T1"]
    assert await names(reference="DINNER") == ["T2"]
    assert await names(reference=story["T1"].reference[4:].lower()) == ["T1"]
    assert await names(created_at_after=START + 2 * minute) == ["W1", "T3", "T2"]
    assert await names(created_at_before=START + 2 * minute) == ["T2", "T1", "DEP"]
    assert await names(expiry_time_before=START + timedelta(hours=1)) == ["W1"]
    assert await names(expiry_time_after=START + timedelta(hours=1)) == ["T3", "T2", "T1"]
    assert await names(sender="alice") == ["W1", "T3", "T2", "T1"]
    assert await names(bob.actor, sender="ALICE") == ["T2", "T1"]
    assert await names(bob.actor, sender="bob") == []
    assert await names(recipient="bob") == ["T2", "T1"]
    assert await names(involving_user="carol") == ["T3"]
    assert await names(world.staff, involving_user=str(carol.user.id)) == ["T3"]
    assert await names(involving_user="nobody") == []
    assert await names(direction="in") == ["DEP"]
    assert await names(direction="out") == ["W1", "T3", "T2", "T1"]
    assert await names(bob.actor, direction="in") == ["T2", "T1"]
    assert await names(bob.actor, direction="out") == []
    assert await names(is_expired=True) == []

    assert await names(ordering="amount") == ["W1", "T1", "T3", "T2", "DEP"]
    assert await names(ordering="-amount") == ["DEP", "T2", "T3", "T1", "W1"]
    assert await names(ordering="expiry_time") == ["W1", "T1", "T2", "T3", "DEP"]
    assert await names(ordering="transaction_type") == ["DEP", "T1", "T2", "T3", "W1"]
    assert await names(ordering="status") == ["DEP", "T1", "T2", "W1", "T3"]
    assert await names(ordering="recipient_username,-amount") == ["W1", "DEP", "T2", "T1", "T3"]
    assert await names(ordering="-sender_username,created_at") == ["T1", "T2", "T3", "W1", "DEP"]

    world.advance(hours=1)  # W1 is now past its expiry, though the job has not run yet
    assert await names(is_expired=True) == ["W1"]
    assert await names(is_expired=False) == ["T3", "T2", "T1", "DEP"]


async def test_list_pages_by_number_and_by_cursor(
    world: World, alice: Person, story: dict[str, Transaction]
) -> None:
    by_id = {t.id: name for name, t in story.items()}

    async def page(**params: object) -> tuple[list[str], object]:
        result = await world.core.transactions.list(
            alice.actor,
            TransactionListParams(**params),  # type: ignore[arg-type]
        )
        return [by_id[t.id] for t in result.items], result

    items, first = await page(page_size=2)
    assert items == ["W1", "T3"]
    assert (first.count, first.page, first.has_next, first.has_previous) == (5, 1, True, False)  # type: ignore[attr-defined]
    items, second = await page(page_size=2, page=2)
    assert items == ["T2", "T1"]
    assert (second.has_next, second.has_previous) == (True, True)  # type: ignore[attr-defined]
    items, third = await page(page_size=2, page=3)
    assert items == ["DEP"]
    assert (third.has_next, third.next_cursor) == (False, None)  # type: ignore[attr-defined]
    items, beyond = await page(page_size=2, page=4)
    assert (items, beyond.count) == ([], 5)  # type: ignore[attr-defined]

    walked: list[str] = []
    cursor = first.next_cursor  # type: ignore[attr-defined]
    walked += ["W1", "T3"]
    while cursor is not None:
        items, result = await page(page_size=2, cursor=cursor)
        assert result.count is None and result.page is None  # type: ignore[attr-defined]
        walked += items
        cursor = result.next_cursor  # type: ignore[attr-defined]
    assert walked == ["W1", "T3", "T2", "T1", "DEP"]

    # A cursor only fits the ordering it was made for.
    with pytest.raises(ValidationFailed):
        await page(page_size=2, cursor=first.next_cursor, ordering="amount")  # type: ignore[attr-defined]


async def test_cursor_pages_break_ties_by_id(world: World, alice: Person) -> None:
    # Twelve deposits of one amount at one instant: only the id orders them.
    for _ in range(12):
        await world.fund(alice.wallet.id, "1.00")
    for ordering in (None, "amount", "-amount,created_at"):
        everything = await world.core.transactions.list(
            alice.actor, TransactionListParams(ordering=ordering, page_size=100)
        )
        walked, cursor = [], None
        while True:
            page = await world.core.transactions.list(
                alice.actor, TransactionListParams(ordering=ordering, page_size=5, cursor=cursor)
            )
            walked += [t.id for t in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == [t.id for t in everything.items]
        assert len(set(walked)) == 12


@pytest.mark.parametrize(
    "params",
    [
        TransactionListParams(page_size=0),
        TransactionListParams(page_size=101),
        TransactionListParams(page=0),
        TransactionListParams(page=1, cursor="abc"),
        TransactionListParams(cursor="!!!"),
        TransactionListParams(ordering="id"),
        TransactionListParams(types=["refund"]),
        TransactionListParams(statuses=["done"]),
        TransactionListParams(funding_sources=["bank"]),
        TransactionListParams(direction="sideways"),
        TransactionListParams(amount_min="ten"),
        TransactionListParams(amount_max="1.001"),
    ],
)
async def test_list_refuses_bad_parameters(
    world: World, alice: Person, params: TransactionListParams
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.core.transactions.list(alice.actor, params)
    assert caught.value.code == "validation_error"


async def test_list_refuses_an_unsupported_currency(world: World, alice: Person) -> None:
    with pytest.raises(UnsupportedCurrency):
        await world.core.transactions.list(alice.actor, TransactionListParams(currency="JPY"))


# Idempotency ------------------------------------------------------------------------------------

SCOPE = "user:alice:POST /wallet/transactions"


def seal(outcome: object) -> bytes:
    """The receipt a test caller keeps: the error code, or the transaction id."""
    if isinstance(outcome, DomainError):
        return outcome.code.encode()
    assert isinstance(outcome, Transaction)
    return str(outcome.id).encode()


def key(name: str = "key-1", fingerprint: str = "fp-1", scope: str = SCOPE) -> Idempotency:
    return Idempotency(scope, name, fingerprint, seal)


async def test_idempotency_first_outcome_then_replay(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    transfers = world.core.transfers
    transaction = await transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob", idempotency=key()
    )
    assert isinstance(transaction, Transaction)
    replay = await transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob", idempotency=key()
    )
    assert replay == Replayed(str(transaction.id).encode())
    with pytest.raises(IdempotencyKeyReused) as reused:
        await transfers.create_transfer(
            alice.actor, amount="10.00", recipient="bob", idempotency=key(fingerprint="fp-2")
        )
    assert reused.value.code == "idempotency_key_reused"
    # Keys are scoped: the same key elsewhere is a fresh request.
    other = await transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob", idempotency=key(scope="user:alice:other")
    )
    assert isinstance(other, Transaction) and other.id != transaction.id
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 8000, 2000, 0)


async def test_a_failed_write_leaves_the_key_free(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure of ours (the storage is down mid-request) writes nothing, the idempotency
    receipt included: the retry with the same key runs at once, and money moves once."""
    await world.fund(alice.wallet.id, "100.00")
    ledger = world.core.ctx.ledger
    real_apply = ledger.apply

    async def broken(write: object) -> object:
        raise ServiceUnavailable()

    monkeypatch.setattr(ledger, "apply", broken)
    with pytest.raises(ServiceUnavailable):
        await world.core.transfers.create_transfer(
            alice.actor, amount="10.00", recipient="bob", idempotency=key()
        )
    assert world.storage.state.receipts == {}
    monkeypatch.setattr(ledger, "apply", real_apply)
    transaction = await world.core.transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob", idempotency=key()
    )
    assert isinstance(transaction, Transaction)
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 9000, 1000, 0)


async def test_a_business_error_is_kept_and_replayed(
    world: World, alice: Person, bob: Person
) -> None:
    with pytest.raises(InsufficientFunds):
        await world.core.transfers.create_transfer(
            alice.actor, amount="10.00", recipient="bob", idempotency=key()
        )
    await world.fund(alice.wallet.id, "100.00")
    # The retry gets the first answer back, even though it would succeed now.
    again = await world.core.transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob", idempotency=key()
    )
    assert again == Replayed(b"insufficient_funds")
    assert amounts(await world.wallet(alice.wallet.id)) == (10000, 10000, 0, 0)


async def test_an_expiry_noticed_on_accept_is_kept_with_its_receipt(
    world: World, alice: Person, bob: Person
) -> None:
    await world.fund(alice.wallet.id, "100.00")
    transaction = await world.core.transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob"
    )
    assert isinstance(transaction, Transaction)
    world.advance(days=1)
    accept = key("accept-1", scope="user:bob:transaction-action")
    with pytest.raises(Expired):
        await world.core.transactions.act(bob.actor, transaction.id, "accept", accept)
    assert (await world.transaction(transaction.id)).status is TransactionStatus.EXPIRED
    assert await world.core.transactions.act(
        bob.actor, transaction.id, "accept", accept
    ) == Replayed(b"expired")


async def test_receipts_expire_and_are_purged(world: World, alice: Person, bob: Person) -> None:
    await world.fund(alice.wallet.id, "100.00")
    for n in range(5):
        await world.core.transfers.create_transfer(
            alice.actor, amount="1.00", recipient="bob", idempotency=key(f"k{n}")
        )
    world.advance(hours=23)
    assert await world.core.idempotency.purge_expired(batch=2) == 0
    replay = await world.core.transfers.create_transfer(
        alice.actor, amount="1.00", recipient="bob", idempotency=key("k0")
    )
    assert isinstance(replay, Replayed)
    world.advance(hours=1)
    # Past retention the key is free again, even for another request.
    fresh = await world.core.transfers.create_transfer(
        alice.actor, amount="2.00", recipient="bob", idempotency=key("k0", "other")
    )
    assert isinstance(fresh, Transaction)
    assert await world.core.idempotency.purge_expired(batch=2) == 4
    assert await world.core.idempotency.purge_expired() == 0
    assert set(world.storage.state.receipts) == {(SCOPE, "k0")}


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\t", "ключ", "\x7f"])
def test_idempotency_key_format(key: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid) as caught:
        validate_key(key)
    assert caught.value.code == "idempotency_key_invalid"


def test_idempotency_key_format_accepts_printable_ascii() -> None:
    assert validate_key(None) is None
    for key in ("a", "x" * 255, "3f2c-UUID_like.key~!"):
        assert validate_key(key) == key


# Notifications ----------------------------------------------------------------------------------


async def test_outbox_sends_the_right_emails_to_the_right_people_once(
    world: World, alice: Person, bob: Person
) -> None:
    transfers, users = world.core.transfers, world.core
    await world.fund(alice.wallet.id, "100.00")
    t1 = await transfers.create_transfer(alice.actor, amount="10.00", recipient="bob")
    await world.core.transactions.act(bob.actor, t1.id, "accept")
    t2 = await transfers.create_transfer(alice.actor, amount="20.00", recipient="bob")
    await world.core.transactions.act(bob.actor, t2.id, "reject")
    t3 = await transfers.create_transfer(alice.actor, amount="30.00", recipient="bob")
    await world.core.transactions.act(alice.actor, t3.id, "cancel")
    c1 = await users.cashouts.request(alice.actor, amount="5.00")
    await users.cashouts.verify(alice.phone, c1.withdrawal_code)
    world.advance(minutes=1)
    t4 = await transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")
    await users.cashouts.request(alice.actor, amount="2.00")
    world.advance(days=1)
    assert await users.expiry.expire_due() == 2
    await users.cashouts.request(alice.actor, amount="3.00")
    for _ in range(5):
        with pytest.raises((InvalidWithdrawalCode, TooManyAttempts)):
            await users.cashouts.verify(alice.phone, "WRONGCODE1")

    ids = await world.drain_outbox()
    a, b = "alice@example.com", "bob@example.com"
    assert [(m.to, m.subject) for m in world.notifier.sent] == [
        (a, "Deposit received: 100.00 USD"),
        (a, "You sent 10.00 USD to bob"),
        (b, "alice sent you 10.00 USD"),
        (a, "bob accepted your transfer of 10.00 USD"),
        (a, "You sent 20.00 USD to bob"),
        (b, "alice sent you 20.00 USD"),
        (a, "bob rejected your transfer of 20.00 USD"),
        (a, "You sent 30.00 USD to bob"),
        (b, "alice sent you 30.00 USD"),
        (b, "alice cancelled a transfer of 30.00 USD"),
        (a, "Your cash-out code for 5.00 USD"),
        (a, "Cash-out of 5.00 USD completed"),
        (a, "You sent 1.00 USD to bob"),
        (b, "alice sent you 1.00 USD"),
        (a, "Your cash-out code for 2.00 USD"),
        (a, f"Transfer {t4.reference} of 1.00 USD expired"),
        (b, f"Transfer {t4.reference} of 1.00 USD expired"),
        (a, "Cash-out of 2.00 USD expired"),
        (a, "Your cash-out code for 3.00 USD"),
        (a, "Cash-out of 3.00 USD cancelled"),
    ]
    assert len(ids) == len(world.notifier.sent)
    code_mail = world.notifier.sent[10]
    assert c1.withdrawal_code in code_mail.text
    assert code_mail.text.startswith("Hello Alice,")
    # Once sent, the code is scrubbed from the outbox; the bearer token never was there.
    assert all(
        "withdrawal_code" not in e.payload and e.sent_at is not None
        for e in world.storage.state.outbox.values()
    )

    # Delivering again (an at-least-once queue) sends nothing; nothing is left to relay.
    for event_id in ids:
        assert await world.core.notifications.deliver(event_id) is False
    assert await world.drain_outbox() == []
    assert len(world.notifier.sent) == 20
    assert await world.core.notifications.deliver(uuid4()) is False


class BrokenMailServer(MemoryNotifier):
    """A notifier that fails until it is repaired."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def send(self, message: EmailMessage) -> None:
        if self.broken:
            raise ConnectionError("SMTP server down")
        await super().send(message)


async def test_a_failed_delivery_is_kept_for_a_retry() -> None:
    server = BrokenMailServer()
    world = await make_world(notifier=server)
    alice = await world.register("alice")
    await world.fund(alice.wallet.id, "10.00")
    ids: list[UUID] = []

    async def enqueue(event_id: UUID) -> None:
        ids.append(event_id)

    assert await world.core.notifications.relay(enqueue, batch=1) == 1
    with pytest.raises(ConnectionError):
        await world.core.notifications.deliver(ids[0])
    event = world.storage.state.outbox[ids[0]]
    assert (event.attempts, event.sent_at) == (1, None)
    server.broken = False
    assert await world.core.notifications.deliver(ids[0]) is True
    assert await world.core.notifications.deliver(ids[0]) is False
    assert [m.subject for m in server.sent] == ["Deposit received: 10.00 USD"]


async def test_relay_drains_in_batches(world: World, alice: Person) -> None:
    for _ in range(5):
        await world.fund(alice.wallet.id, "1.00")
    ids: list[UUID] = []

    async def enqueue(event_id: UUID) -> None:
        ids.append(event_id)

    assert await world.core.notifications.relay(enqueue, batch=2) == 5
    assert len(set(ids)) == 5
    assert await world.core.notifications.relay(enqueue, batch=2) == 0


async def test_a_lost_task_is_relayed_again_but_sent_once(world: World, alice: Person) -> None:
    await world.fund(alice.wallet.id, "1.00")
    ids: list[UUID] = []

    async def enqueue(event_id: UUID) -> None:
        ids.append(event_id)

    assert await world.core.notifications.relay(enqueue) == 1
    # The queued task is lost with its worker: the event stays unsent.
    world.advance(minutes=9)
    assert await world.core.notifications.relay(enqueue) == 0
    world.advance(minutes=2)
    assert await world.core.notifications.relay(enqueue) == 1
    assert len(ids) == 2 and ids[0] == ids[1]
    assert [await world.core.notifications.deliver(i) for i in ids] == [True, False]
    world.advance(hours=1)
    assert await world.core.notifications.relay(enqueue) == 0
    assert [m.subject for m in world.notifier.sent] == ["Deposit received: 1.00 USD"]


# The audit --------------------------------------------------------------------------------------


async def test_audit_is_clean_after_a_busy_day_and_reports_balances(
    world: World, alice: Person, bob: Person
) -> None:
    bob_eur = await world.core.wallets.open(bob.actor, "EUR")
    await world.fund(alice.wallet.id, "100.00")
    await world.core.deposits.paysend(ProviderDeposit("ps-1", "COMPLETED", bob.phone, "50.00"))
    await world.core.deposits.paysend(
        ProviderDeposit("ps-2", "COMPLETED", bob.phone, "8.00", currency="EUR")
    )
    t = await world.core.transfers.create_transfer(alice.actor, amount="30.00", recipient="bob")
    await world.core.transactions.act(bob.actor, t.id, "accept")
    await world.core.transfers.create_transfer(bob.actor, amount="15.00", recipient="alice")
    c = await world.core.cashouts.request(bob.actor, amount="3.00", wallet_id=bob_eur.id)
    await world.core.cashouts.verify(bob.phone, c.withdrawal_code)
    await world.core.cashouts.request(alice.actor, amount="10.00")
    report = await world.core.audit.run()
    assert report.ok, report.problems
    assert report.entries_checked
    # Wallet money: USD 100 + 50 in (the 30 moved between wallets), EUR 8 in and 3 out.
    assert report.balances == {"USD": 15000, "EUR": 500}
    # admin, alice, bob (USD, EUR) wallets and the manual, paysend (USD, EUR), ATM (EUR, USD)
    # system accounts.
    assert report.accounts == 4 + 5


@pytest.mark.parametrize("tamper", ["account_total", "lost_entry", "pending_amount"])
async def test_audit_finds_tampering(tamper: str) -> None:
    world = await make_world()
    alice = await world.register("alice")
    bob = await world.register("bob")
    deposit = await world.fund(alice.wallet.id, "100.00")
    pending = await world.core.transfers.create_transfer(
        alice.actor, amount="10.00", recipient="bob"
    )
    assert (await world.core.audit.run()).ok
    state = world.storage.state
    if tamper == "account_total":
        account = state.accounts[bob.wallet.id]
        state.accounts[bob.wallet.id] = dataclasses.replace(account, credits_posted=1)
    elif tamper == "lost_entry":
        entry = next(e for e in state.entries.values() if e.transaction_id == deposit.id)
        del state.entries[entry.id]
    else:
        state.transactions[pending.id] = dataclasses.replace(pending, amount=999)
    report = await world.core.audit.run()
    assert not report.ok
    assert report.problems
