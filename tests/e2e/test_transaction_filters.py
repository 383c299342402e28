"""Filters, ordering and pagination of ``GET /wallet/transactions`` against a seeded data set whose
answers are known: three users and ~70 transactions of every type, status and funding source,
created on a manual clock (one minute apart) so that time filters have exact answers. Plus a
1,000-row keyset walk while rows are being inserted."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from entrypoints.bootstrap import Container, build
from entrypoints.settings import Settings
from support import Api, Person
from wallet_core.ledger import Transaction
from wallet_core.local import MemoryNotifier
from wallet_core.services.deposits import ProviderDeposit
from wallet_core.testing.fakes import ManualClock

TX = "/api/v1/wallet/transactions"
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Row:
    """What the test knows about one seeded transaction, independently of the list endpoint."""

    id: str
    type: str
    status: str
    amount: int
    currency: str
    funding_source: str
    sender: str | None  # "a" / "b" / "c"
    recipient: str | None
    wallet_ids: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    reference: str
    description: str


@dataclass
class Seed:
    people: dict[str, Person]
    rows: dict[str, Row] = field(default_factory=dict)
    eur: dict[str, str] = field(default_factory=dict)
    now: datetime = NEVER

    def of(self, key: str) -> list[Row]:
        return [r for r in self.rows.values() if key in (r.sender, r.recipient)]

    def username(self, key: str | None) -> str:
        return self.people[key].username if key else ""


@pytest.fixture(scope="module")
async def past(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[Container, ManualClock]]:
    """A container on the same database whose clock starts three days ago and is moved by hand."""
    start = (datetime.now(UTC) - timedelta(days=3)).replace(second=17, microsecond=0)
    clock = ManualClock(start)
    container = build(make_settings(), clock=clock, notifier=MemoryNotifier())
    yield container, clock
    await container.close()


@pytest.fixture(scope="module")
async def seed(api: Api, past: tuple[Container, ManualClock]) -> Seed:
    container, clock = past
    core = container.core
    tag = uuid.uuid4().hex[:6]
    people = {
        k: await api.person(username=f"f{k}_{tag}_{uuid.uuid4().hex[:6]}") for k in ("a", "b", "c")
    }
    s = Seed(people)
    for k in ("a", "b"):
        s.eur[k] = await api.open_wallet(people[k], "EUR")
    staff = (await api.staff()).actor
    counter = iter(range(1, 1000))

    def amount() -> str:
        i = next(counter)
        return f"{i * 3 + 1}.{(i * 37) % 100:02d}"

    def remember(t: Transaction, status: str | None = None) -> Row:
        def key(user_id: uuid.UUID | None) -> str | None:
            for k, p in people.items():
                if user_id is not None and p.id == str(user_id):
                    return k
            return None

        row = Row(
            id=str(t.id),
            type=t.type.value,
            status=status or t.status.value,
            amount=t.amount,
            currency=t.currency,
            funding_source=t.funding_source.value,
            sender=key(t.sender.user_id) if t.sender else None,
            recipient=key(t.recipient.user_id) if t.recipient else None,
            wallet_ids=frozenset(
                str(p.wallet_id) for p in (t.sender, t.recipient) if p is not None
            ),
            created_at=t.created_at,
            expires_at=t.expires_at,
            reference=t.reference,
            description=t.description,
        )
        s.rows[row.id] = row
        return row

    def tick(minutes: int = 1) -> None:
        clock.advance(timedelta(minutes=minutes))

    async def deposit(k: str, value: str, wallet: str | None = None, text: str = "") -> Row:
        tick()
        wid = uuid.UUID(wallet or people[k].wallet_id)
        t = await core.deposits.manual(staff, amount=value, wallet_id=wid, description=text)
        return remember(t)

    async def paysend(k: str) -> Row:
        tick()
        outcome = await core.deposits.paysend(
            ProviderDeposit(
                f"seed-{uuid.uuid4().hex}", "COMPLETED", people[k].phone_number, amount()
            )
        )
        assert outcome.transaction is not None
        return remember(outcome.transaction)

    async def send(src: str, dst: str, text: str, wallet: str | None = None) -> Row:
        tick()
        t = await core.transfers.create_transfer(
            people[src].actor,
            amount=amount(),
            recipient=people[dst].username,
            wallet_id=uuid.UUID(wallet) if wallet else None,
            description=text,
        )
        return remember(t)

    async def act(k: str, row: Row, action: str) -> None:
        tick()
        t = await core.transactions.act(people[k].actor, uuid.UUID(row.id), action)
        s.rows[row.id] = replace(row, status=t.status.value)

    async def cash_out(k: str, text: str, wallet: str | None = None) -> tuple[Row, str]:
        tick()
        c = await core.cashouts.request(
            people[k].actor,
            amount=amount(),
            wallet_id=uuid.UUID(wallet) if wallet else None,
            description=text,
        )
        return remember(c.transaction), c.withdrawal_code

    # Phase 1 (three days ago): money in, then transfers and cash-outs that will expire.
    for k, value in (("a", "5000.00"), ("b", "5001.00"), ("c", "5002.00")):
        await deposit(k, value, text=f"opening {k}")
    await deposit("a", "3000.00", s.eur["a"], "opening eur a")
    await deposit("b", "3001.00", s.eur["b"], "opening eur b")
    for k in ("a", "b", "c", "a", "b", "c", "a", "b"):
        await paysend(k)
    for i, k in enumerate(("a", "b", "c", "a", "b", "c")):
        await deposit(k, amount(), text=f"manual credit {i}")
    for src, dst in (("a", "b"), ("b", "c"), ("c", "a"), ("a", "c"), ("b", "a")):
        await send(src, dst, f"doomed {src}{dst}")
    for k in ("a", "b", "c"):
        await cash_out(k, f"doomed cash {k}")
    await cash_out("a", "doomed eur cash", s.eur["a"])
    clock.advance(timedelta(hours=25))
    assert await core.expiry.expire_due() >= 9
    for row in list(s.rows.values()):
        if row.status == "pending":
            s.rows[row.id] = replace(row, status="expired")

    # Phase 2 (two days ago): every other outcome.
    tick(60)
    pairs = [("a", "b"), ("b", "a"), ("c", "a"), ("a", "c"), ("b", "c")]
    for src, dst in pairs:
        await act(dst, await send(src, dst, f"Team lunch {src}{dst}"), "accept")
    for src, dst in pairs[:4]:
        await act(dst, await send(src, dst, f"50% off {src}{dst}"), "reject")
    for src, dst in pairs[:4]:
        await act(src, await send(src, dst, f"snake_case {src}{dst}"), "cancel")
    eur = await send("a", "b", "euro gift", s.eur["a"])
    await act("b", eur, "accept")
    await send("b", "a", "euro pending", s.eur["b"])
    for src, dst in pairs[:4]:
        await send(src, dst, f"stale {src}{dst}")  # pending, past expires_at by now
    for k in ("a", "b", "a", "c"):
        row, code = await cash_out(k, f"atm done {k}")
        tick()
        t = await core.cashouts.verify(people[k].phone_number, code)
        s.rows[row.id] = replace(row, status=t.status.value)
    for k in ("a", "c", "b", "a"):
        await act(k, (await cash_out(k, f"atm cancel {k}"))[0], "cancel")
    for k in ("a", "b", "c"):
        await cash_out(k, f"atm stale {k}")  # pending, past expires_at by now

    # Phase 3 (ten minutes ago): pending transfers and cash-outs that are still live.
    real_now = datetime.now(UTC)
    clock.advance(real_now - timedelta(minutes=10) - clock.now())
    for src, dst in (("a", "b"), ("b", "a"), ("c", "a"), ("a", "c")):
        await send(src, dst, f"live {src}{dst}")
    for k in ("a", "b", "a"):
        await cash_out(k, f"atm live {k}")
    await deposit("c", amount(), text="late credit c")
    await deposit("a", amount(), text="late credit a")
    s.now = datetime.now(UTC)
    return s


async def fetch(
    client: httpx.AsyncClient, who: Person, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every result of a query, following ``next`` links (page_size 100)."""
    response = await client.get(TX, params={"page_size": "100", **params}, headers=who.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    results: list[dict[str, Any]] = list(body["results"])
    total = body["count"]
    while body["next"]:
        response = await client.get(body["next"], headers=who.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        results += body["results"]
    assert total == len(results)
    return results


def is_expired(row: Row, now: datetime) -> bool:
    return row.status == "expired" or (
        row.status == "pending" and row.expires_at is not None and row.expires_at <= now
    )


async def test_seed_is_what_the_test_thinks(client: httpx.AsyncClient, seed: Seed) -> None:
    rows = list(seed.rows.values())
    assert len(rows) >= 60
    for kind in ("deposit", "transfer", "withdrawal"):
        assert sum(r.type == kind for r in rows) >= 15
    for status in ("pending", "completed", "rejected", "cancelled", "expired"):
        assert sum(r.status == status for r in rows) >= 4, status
    # Every user sees exactly the transactions they are a party to, with the right statuses.
    for k, person in seed.people.items():
        listed = await fetch(client, person, {})
        assert {t["id"]: t["status"] for t in listed} == {r.id: r.status for r in seed.of(k)}
        for t in listed:
            row = seed.rows[t["id"]]
            assert t["reference"] == row.reference
            assert t["created_at"] == z(row.created_at)


def _filters(s: Seed) -> list[tuple[dict[str, Any], Callable[[Row], bool]]]:
    """(query, predicate over a seeded row) pairs, from user A's point of view."""
    a, b, c = (s.people[k] for k in "abc")
    rows = sorted(s.of("a"), key=lambda r: r.created_at)
    some = rows[len(rows) // 2]
    t1 = rows[len(rows) // 3].created_at + timedelta(seconds=30)
    t2 = rows[2 * len(rows) // 3].created_at + timedelta(seconds=30)
    expiring = sorted((r for r in rows if r.expires_at), key=lambda r: r.expires_at or NEVER)
    e1 = (expiring[len(expiring) // 4].expires_at or NEVER) + timedelta(seconds=30)
    e2 = (expiring[3 * len(expiring) // 4].expires_at or NEVER) + timedelta(seconds=30)
    day = (rows[0].created_at + timedelta(days=1)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    now = s.now
    return [
        ({}, lambda r: True),
        ({"amount_min": "50.00"}, lambda r: r.amount >= 5000),
        ({"amount_max": "20.5"}, lambda r: r.amount <= 2050),
        ({"amount_min": "10", "amount_max": "100.37"}, lambda r: 1000 <= r.amount <= 10037),
        ({"type": "transfer"}, lambda r: r.type == "transfer"),
        ({"type": "withdrawal"}, lambda r: r.type == "withdrawal"),
        ({"transaction_type": "deposit"}, lambda r: r.type == "deposit"),
        ({"type": "deposit,withdrawal"}, lambda r: r.type != "transfer"),
        ({"type": ["deposit", "withdrawal"]}, lambda r: r.type != "transfer"),
        ({"status": "pending"}, lambda r: r.status == "pending"),
        ({"status": "completed"}, lambda r: r.status == "completed"),
        ({"status": "rejected"}, lambda r: r.status == "rejected"),
        ({"status": "cancelled"}, lambda r: r.status == "cancelled"),
        ({"status": "expired"}, lambda r: r.status == "expired"),
        ({"status": "failed"}, lambda r: r.status == "failed"),
        ({"status": "pending,expired"}, lambda r: r.status in {"pending", "expired"}),
        ({"funding_source": "paysend"}, lambda r: r.funding_source == "paysend"),
        ({"funding_source": "manual"}, lambda r: r.funding_source == "manual"),
        ({"funding_source": "internal"}, lambda r: r.funding_source == "internal"),
        ({"funding_source": "blf_atm"}, lambda r: r.funding_source == "blf_atm"),
        ({"currency": "EUR"}, lambda r: r.currency == "EUR"),
        ({"currency": "USD"}, lambda r: r.currency == "USD"),
        ({"wallet": s.eur["a"]}, lambda r: s.eur["a"] in r.wallet_ids),
        ({"wallet": a.wallet_id}, lambda r: a.wallet_id in r.wallet_ids),
        ({"wallet": s.eur["b"]}, lambda r: s.eur["b"] in r.wallet_ids),
        (
            {"reference": some.reference[4:10].lower()},
            lambda r: some.reference[4:10].lower() in r.reference.lower(),
        ),
        ({"reference": some.reference}, lambda r: r.id == some.id),
        ({"reference": "tEaM LuNcH"}, lambda r: "team lunch" in r.description.lower()),
        ({"reference": "%"}, lambda r: "%" in r.description),
        ({"reference": "_"}, lambda r: "_" in r.description),
        ({"reference": "e_c"}, lambda r: "e_c" in r.description.lower()),
        ({"reference": "trf-"}, lambda r: r.type == "transfer"),
        ({"created_at_after": z(t1)}, lambda r: r.created_at >= t1),
        ({"created_at_before": z(t1)}, lambda r: r.created_at <= t1),
        (
            {"created_at_after": z(t1), "created_at_before": z(t2)},
            lambda r: t1 <= r.created_at <= t2,
        ),
        (
            {"created_at_after": t1.astimezone(timezone(timedelta(hours=5))).isoformat()},
            lambda r: r.created_at >= t1,
        ),
        ({"created_at_before": day.isoformat()}, lambda r: r.created_at <= midnight),
        ({"created_at_after": day.isoformat()}, lambda r: r.created_at >= midnight),
        ({"expiry_time_after": z(e1)}, lambda r: r.expires_at is not None and r.expires_at >= e1),
        ({"expiry_time_before": z(e2)}, lambda r: r.expires_at is not None and r.expires_at <= e2),
        (
            {"expiry_time_after": z(e1), "expiry_time_before": z(e2)},
            lambda r: r.expires_at is not None and e1 <= r.expires_at <= e2,
        ),
        ({"is_expired": "true"}, lambda r: is_expired(r, now)),
        ({"is_expired": "false"}, lambda r: not is_expired(r, now)),
        ({"sender": b.username.upper()}, lambda r: r.sender == "b"),
        ({"sender": b.id}, lambda r: r.sender == "b"),
        ({"recipient": c.username}, lambda r: r.recipient == "c"),
        ({"recipient": a.id}, lambda r: r.recipient == "a"),
        ({"involving_user": c.username.upper()}, lambda r: "c" in (r.sender, r.recipient)),
        ({"involving_user": b.id}, lambda r: "b" in (r.sender, r.recipient)),
        ({"direction": "in"}, lambda r: r.recipient == "a"),
        ({"direction": "out"}, lambda r: r.sender == "a"),
        (
            {"type": "transfer", "status": "pending", "direction": "out"},
            lambda r: r.type == "transfer" and r.status == "pending" and r.sender == "a",
        ),
        (
            {"direction": "in", "funding_source": "internal", "is_expired": "false"},
            lambda r: (
                r.recipient == "a" and r.funding_source == "internal" and not is_expired(r, now)
            ),
        ),
    ]


async def test_every_filter_has_the_known_answer(client: httpx.AsyncClient, seed: Seed) -> None:
    alice = seed.people["a"]
    mine = seed.of("a")
    for params, predicate in _filters(seed):
        expected = {r.id for r in mine if predicate(r)}
        got = [t["id"] for t in await fetch(client, alice, params)]
        assert len(got) == len(set(got)), params
        assert set(got) == expected, (params, len(got), len(expected))
    # The data set is rich enough for these to mean something.
    assert any("%" in r.description for r in mine)
    assert any("_" in r.description for r in mine)


async def test_staff_filters_across_users(client: httpx.AsyncClient, api: Api, seed: Seed) -> None:
    staff = await api.staff()
    rows = list(seed.rows.values())
    a, b, c = (seed.people[k] for k in "abc")
    cases: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
        ({"involving_user": a.username}, lambda r: "a" in (r.sender, r.recipient)),
        (
            {"sender": b.username, "recipient": c.id},
            lambda r: r.sender == "b" and r.recipient == "c",
        ),
        (
            {"involving_user": c.id, "type": "withdrawal"},
            lambda r: r.sender == "c" and r.type == "withdrawal",
        ),
        ({"wallet": seed.eur["b"]}, lambda r: seed.eur["b"] in r.wallet_ids),
        (
            {"involving_user": b.id, "status": "expired"},
            lambda r: "b" in (r.sender, r.recipient) and r.status == "expired",
        ),
    ]
    for params, predicate in cases:
        got = {t["id"] for t in await fetch(client, staff, params)}
        assert got == {r.id for r in rows if predicate(r)}, params
    # A user's direction filter is relative to the caller: C's "in" is not A's "in".
    c_in = {t["id"] for t in await fetch(client, c, {"direction": "in"})}
    assert c_in == {r.id for r in rows if r.recipient == "c"}


SORT_KEYS = [
    "amount",
    "created_at",
    "expiry_time",
    "type",
    "transaction_type",
    "status",
    "sender_username",
    "recipient_username",
]


def _expected_order(seed: Seed, rows: list[Row], ordering: str, id_desc: bool) -> list[str]:
    value: dict[str, Callable[[Row], Any]] = {
        "amount": lambda r: r.amount,
        "created_at": lambda r: r.created_at,
        "expiry_time": lambda r: r.expires_at or NEVER,
        "type": lambda r: r.type,
        "transaction_type": lambda r: r.type,
        "status": lambda r: r.status,
        "sender_username": lambda r: seed.username(r.sender),
        "recipient_username": lambda r: seed.username(r.recipient),
    }
    result = sorted(rows, key=lambda r: uuid.UUID(r.id), reverse=id_desc)
    for part in reversed(ordering.split(",")):
        name = part.lstrip("-")
        result.sort(key=value[name], reverse=part.startswith("-"))
    return [r.id for r in result]


@pytest.mark.parametrize(
    "ordering",
    [
        *SORT_KEYS,
        *(f"-{k}" for k in SORT_KEYS),
        "type,-amount",
        "-status,created_at",
        "sender_username,-recipient_username,amount",
    ],
)
async def test_every_ordering_with_ties_broken_by_id(
    client: httpx.AsyncClient, seed: Seed, ordering: str
) -> None:
    alice = seed.people["a"]
    got = [t["id"] for t in await fetch(client, alice, {"ordering": ordering})]
    rows = seed.of("a")
    last_desc = ordering.split(",")[-1].startswith("-")
    # Ties are broken by id (in the direction of the last key, or always ascending).
    assert got in (
        _expected_order(seed, rows, ordering, id_desc=last_desc),
        _expected_order(seed, rows, ordering, id_desc=False),
    ), ordering


@pytest.mark.parametrize(
    "ordering",
    [*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS), "type,-amount", "-status,expiry_time"],
)
async def test_cursor_walk_matches_the_full_list_for_every_ordering(
    client: httpx.AsyncClient, seed: Seed, ordering: str
) -> None:
    alice = seed.people["a"]
    everything = [t["id"] for t in await fetch(client, alice, {"ordering": ordering})]
    params = {"ordering": ordering, "page_size": "6"}
    body = (await client.get(TX, params=params, headers=alice.headers)).json()
    walked = [t["id"] for t in body["results"]]
    while body["next_cursor"]:
        response = await client.get(
            TX, params={**params, "cursor": body["next_cursor"]}, headers=alice.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        walked += [t["id"] for t in body["results"]]
    assert walked == everything


async def test_default_ordering_is_newest_first(client: httpx.AsyncClient, seed: Seed) -> None:
    alice = seed.people["a"]
    got = [t["id"] for t in await fetch(client, alice, {})]
    assert got == _expected_order(seed, seed.of("a"), "-created_at", id_desc=True)


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"status": "pending,bogus"},
        {"type": "refund"},
        {"transaction_type": "gift"},
        {"funding_source": "bank"},
        {"funding_source": ""},
        {"status": "pending,"},
        {"type": ""},
        {"currency": "XXX"},
        {"ordering": "id"},
        {"ordering": "-balance"},
        {"ordering": "amount,nope"},
        {"created_at_after": "yesterday"},
        {"created_at_before": "2024-02-30"},
        {"expiry_time_after": "12/01/2024"},
        {"expiry_time_before": "soon"},
        {"is_expired": "perhaps"},
        {"direction": "sideways"},
        {"amount_min": "ten"},
        {"amount_max": "1.234"},
        {"wallet": "not-a-uuid"},
        {"page_size": "101"},
        {"page_size": "0"},
        {"page_size": "many"},
        {"page": "0"},
        {"page": "-1"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJvIjoiMTIzIn0"},
    ],
)
async def test_bad_values_are_400(
    client: httpx.AsyncClient, api: Api, params: dict[str, str]
) -> None:
    alice = await api.person()
    response = await client.get(TX, params=params, headers=alice.headers)
    assert response.status_code == 400, (params, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"


async def test_cursor_is_tied_to_its_ordering(client: httpx.AsyncClient, seed: Seed) -> None:
    alice = seed.people["a"]
    first = await client.get(
        TX, params={"page_size": "3", "ordering": "amount"}, headers=alice.headers
    )
    cursor = first.json()["next_cursor"]
    assert cursor
    other = await client.get(
        TX, params={"cursor": cursor, "ordering": "-amount"}, headers=alice.headers
    )
    assert other.status_code == 400
    both = await client.get(
        TX, params={"cursor": cursor, "page": "2", "ordering": "amount"}, headers=alice.headers
    )
    assert both.status_code == 400


async def test_page_number_pagination(client: httpx.AsyncClient, seed: Seed) -> None:
    alice = seed.people["a"]
    everything = [t["id"] for t in await fetch(client, alice, {})]
    total = len(everything)
    first = (await client.get(TX, params={"page_size": "7"}, headers=alice.headers)).json()
    assert first["count"] == total
    assert first["previous"] is None
    assert first["next"] is not None
    assert first["next_cursor"]
    assert [t["id"] for t in first["results"]] == everything[:7]
    walked: list[str] = []
    body, pages = first, 1
    while True:
        walked += [t["id"] for t in body["results"]]
        assert body["count"] == total
        if body["next"] is None:
            break
        before = body
        body = (await client.get(body["next"], headers=alice.headers)).json()
        pages += 1
        assert body["previous"] is not None
        back = (await client.get(body["previous"], headers=alice.headers)).json()
        assert back["results"] == before["results"]
    assert walked == everything
    assert pages == -(-total // 7)
    assert body["next_cursor"] is None
    page3 = (
        await client.get(TX, params={"page_size": "7", "page": "3"}, headers=alice.headers)
    ).json()
    assert [t["id"] for t in page3["results"]] == everything[14:21]
    beyond = await client.get(TX, params={"page_size": "7", "page": "999"}, headers=alice.headers)
    assert beyond.status_code in (200, 404)
    if beyond.status_code == 200:
        assert beyond.json()["results"] == []


async def test_next_links_keep_repeated_filters(client: httpx.AsyncClient, seed: Seed) -> None:
    alice = seed.people["a"]
    params = {"type": ["deposit", "withdrawal"], "page_size": "4"}
    expected = {r.id for r in seed.of("a") if r.type != "transfer"}
    first = await client.get(TX, params=params, headers=alice.headers)
    body = first.json()
    assert body["count"] == len(expected)
    seen = [t["id"] for t in body["results"]]
    while body["next"]:
        body = (await client.get(body["next"], headers=alice.headers)).json()
        assert body["count"] == len(expected)
        seen += [t["id"] for t in body["results"]]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


async def test_keyset_pages_follow_the_filters(client: httpx.AsyncClient, seed: Seed) -> None:
    alice = seed.people["a"]
    params = {"type": "transfer", "ordering": "-amount", "page_size": "4"}
    expected = [
        r.id
        for r in sorted((r for r in seed.of("a") if r.type == "transfer"), key=lambda r: -r.amount)
    ]
    body = (await client.get(TX, params=params, headers=alice.headers)).json()
    seen = [t["id"] for t in body["results"]]
    while body["next_cursor"]:
        body = (
            await client.get(
                TX, params={**params, "cursor": body["next_cursor"]}, headers=alice.headers
            )
        ).json()
        seen += [t["id"] for t in body["results"]]
        if body["next_cursor"]:
            assert body["next"] and "cursor=" in body["next"]
    assert seen == expected


# Keyset over 1,000 rows while rows are being inserted -----------------------------------------


@pytest.fixture(scope="module")
async def thousand(api: Api, container: Container) -> tuple[Person, set[str], list[str]]:
    """One user with exactly 1,000 transactions (900 deposits, 100 cash-outs) in four currencies,
    made through the use cases directly (fast), amounts cycling through a few values (ties)."""
    kim = await api.person()
    wallets = {"USD": kim.wallet_id}
    for currency in ("EUR", "GBP", "LBP"):
        wallets[currency] = await api.open_wallet(kim, currency)
    staff = (await api.staff()).actor
    core = container.core

    async def manual(currency: str) -> list[str]:
        wid = uuid.UUID(wallets[currency])
        ids = []
        for i in range(125):
            t = await core.deposits.manual(staff, amount=f"{10 + i % 7}.00", wallet_id=wid)
            ids.append(str(t.id))
        for i in range(25):
            c = await core.cashouts.request(kim.actor, amount=f"{1 + i % 3}.00", wallet_id=wid)
            ids.append(str(c.transaction.id))
        return ids

    async def paysend(currency: str) -> list[str]:
        # Another funding source locks another system account: a parallel stream.
        ids = []
        for i in range(100):
            deposit = ProviderDeposit(
                f"bulk-{uuid.uuid4().hex}",
                "COMPLETED",
                kim.phone_number,
                f"{10 + i % 7}.00",
                currency,
            )
            outcome = await core.deposits.paysend(deposit)
            assert outcome.transaction is not None
            ids.append(str(outcome.transaction.id))
        return ids

    groups = await asyncio.gather(*(manual(c) for c in wallets), *(paysend(c) for c in wallets))
    ids = {i for g in groups for i in g}
    assert len(ids) == 1000
    # These 1,000 emails are noise: mark them delivered, so that a later test running the
    # notification worker against this shared database does not have to drain them first.
    async with container.storage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE outbox_events SET dispatched_at = now(), sent_at = now() "
                "WHERE user_id = :user AND sent_at IS NULL"
            ),
            {"user": uuid.UUID(kim.id)},
        )
    return kim, ids, []


async def _walk(
    client: httpx.AsyncClient,
    who: Person,
    params: dict[str, str],
    during: Callable[[], Any] | None = None,
) -> list[dict[str, Any]]:
    response = await client.get(TX, params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    seen: list[dict[str, Any]] = list(body["results"])
    while body["next_cursor"]:
        if during is not None:
            await during()
        response = await client.get(
            TX, params={**params, "cursor": body["next_cursor"]}, headers=who.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["results"]) <= int(params["page_size"])
        seen += body["results"]
    return seen


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("ordering", "page_size"),
    [("-created_at", "100"), ("created_at", "64"), ("amount", "100"), ("type,-amount", "75")],
)
async def test_keyset_walk_over_1000_rows_while_inserting(
    client: httpx.AsyncClient,
    api: Api,
    thousand: tuple[Person, set[str], list[str]],
    ordering: str,
    page_size: str,
) -> None:
    kim, originals, extras = thousand
    existing = originals | set(extras)  # rows earlier walks inserted are listed too
    between: list[str] = []
    done = asyncio.Event()

    async def insert() -> None:
        # A new transaction for this user between every two pages...
        between.append((await api.fund(kim, "10.00"))["id"])

    async def background() -> None:
        # ...and others committed concurrently with the page queries.
        while not done.is_set():
            extras.append((await api.fund(kim, "10.00"))["id"])
            await asyncio.sleep(0)

    inserter = asyncio.create_task(background())
    try:
        seen = await _walk(client, kim, {"ordering": ordering, "page_size": page_size}, insert)
    finally:
        done.set()
        await inserter
    extras.extend(between)
    ids = [t["id"] for t in seen]
    assert len(ids) == len(set(ids)), "a row was served twice"
    missing = existing - set(ids)
    assert not missing, f"{len(missing)} rows were skipped"
    assert set(ids) <= originals | set(extras)
    assert len(between) >= 8
    concurrent = len(extras) - (len(existing) - len(originals)) - len(between)
    assert concurrent >= 3, "nothing was inserted concurrently"
    if ordering == "-created_at":
        # Rows committed after the first page sort before it: the walk never reaches them.
        assert not set(ids) & set(between)
    # The order across page boundaries is the requested one.
    value: dict[str, Callable[[dict[str, Any]], Any]] = {
        "created_at": lambda t: ts(t["created_at"]),
        "amount": lambda t: int(t["amount"].replace(".", "")),
        "type": lambda t: t["type"],
    }
    parts = ordering.split(",")
    keys = [[value[p.lstrip("-")](t) for p in parts] for t in seen]
    for earlier, later in itertools.pairwise(keys):
        for part, x, y in zip(parts, earlier, later, strict=True):
            if x == y:
                continue
            assert (x > y) if part.startswith("-") else (x < y), (ordering, earlier, later)
            break


async def test_keyset_count_and_links(
    client: httpx.AsyncClient, thousand: tuple[Person, set[str], list[str]]
) -> None:
    kim, _, _ = thousand
    first = (await client.get(TX, params={"page_size": "100"}, headers=kim.headers)).json()
    assert first["count"] >= 1000
    cursor = first["next_cursor"]
    page = (
        await client.get(TX, params={"page_size": "100", "cursor": cursor}, headers=kim.headers)
    ).json()
    assert page["count"] is None or page["count"] >= 1000
    assert page["next_cursor"]
    assert page["next"] and "cursor=" in page["next"]
    assert page["previous"] is None or isinstance(page["previous"], str)
    followed = (await client.get(page["next"], headers=kim.headers)).json()
    nxt = (
        await client.get(
            TX, params={"page_size": "100", "cursor": page["next_cursor"]}, headers=kim.headers
        )
    ).json()
    assert followed["results"] == nxt["results"]
