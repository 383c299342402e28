"""SQL and LIKE injection through every filter of ``GET /wallet/transactions``, ``GET /wallet``
and ``GET /users`` (staff), the ``ordering`` parameter, and hand-edited keyset cursors.

Every answer must be a 2xx with exactly the rows the filter means (text filters are checked
against an oracle computed here; user filters are exact lookups, so a payload matches nobody),
never a row the caller may not see, or a 4xx problem; never a 5xx, never SQL in a response.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sec_support import assert_client_error

from support import Api, Person, assert_no_leak, assert_problem

TX = "/api/v1/wallet/transactions"
WALLETS = "/api/v1/wallet"
USERS = "/api/v1/users"

INJECTIONS: list[str] = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '" OR ""="',
    "1) OR (1=1",
    "'; DROP TABLE transactions; --",
    "%",
    "_",
    "\\",
    "\\%",
    "%%",
    "%_%",
    "\\\\",
    "'",
    "--",
    "%' UNION SELECT id, email, password_hash FROM users --",
    "' AND 1=CAST((SELECT password_hash FROM users LIMIT 1) AS int) --",
    "'||pg_sleep(3)||'",
    "$1",
    "%(x)s",
    ":name",
    "[a-z]",
    ".*",
    "null",
    "true",
    "0",
    "-1",
    "--1",
    "1e999",
    "9999-12-31T23:59:59-14:00",  # a valid local time whose UTC is past year 9999
    "0001-01-01T00:00:00+14:00",  # ... or before year 1
    "x" * 20_000,
    "ünïcødé",
    "用户",
    "😀",
    "\u202e",
    "\u0000",
    "a\u0000b",
    "%00",
    "\t",
    "\r\n",
]
INJECTION_IDS = [repr(p)[:32] for p in INJECTIONS]

DESCRIPTIONS = [
    "pct 100% done",
    "under_score",
    "back\\slash",
    "quote ' or 1=1 --",
    "plain words",
    "ünïcødé 用户 😀",
    "mix%and_under\\score",
    "UPPER lower MiXeD",
]


def has_nul(value: str) -> bool:
    return "\u0000" in value


def is_blank(value: str) -> bool:
    """Blank values mean "no filter"; the framework also reads ``null`` as absent."""
    return not value.strip() or value == "null"


@dataclass
class World:
    alice: Person
    bob: Person
    staff: Person
    #: Alice's transactions as the API lists them without filters (the oracle's input).
    alice_transactions: list[dict[str, Any]]
    alice_wallets: set[str]
    marker: str
    marked_users: list[dict[str, Any]]


async def all_pages(client: httpx.AsyncClient, path: str, person: Person, **params: Any) -> list:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await client.get(
            path, params={**params, "page": page, "page_size": 100}, headers=person.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["results"])
        if body["next"] is None:
            return rows
        page += 1


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    alice, bob, carol, dave = [await api.person() for _ in range(4)]
    staff = await api.staff()
    await api.open_wallet(alice, "EUR")
    for person in (alice, bob, carol):
        await api.fund(person, "100.00")
    for description in DESCRIPTIONS:
        # Alice's rows, and outsiders' rows with the very same texts (they must never show).
        for sender, recipient in ((alice, bob), (carol, dave)):
            sent = await api.send(sender, recipient, "1.00", description=description)
            assert sent.status_code == 201, sent.text
    received = await api.send(bob, alice, "2.00", description="from bob 50% off")
    assert received.status_code == 201, received.text

    marker = "mk" + uuid.uuid4().hex[:10]
    specials = ["100% sure", "under_score", "back\\slash", "o'brien --", "plain", "ünïcødé"]
    locals_ = ["pct%", "under_", "back\\", "o'brien", "plain", "uni"]
    marked = []
    for index, (special, local) in enumerate(zip(specials, locals_, strict=True)):
        person = await api.person(
            email=f"{local}{index}@{marker}.example",
            first_name=f"{special} {marker}",
            last_name=f"{marker} {special}",
        )
        marked.append(
            {
                "id": person.id,
                "email": person.email,
                "first_name": f"{special} {marker}",
                "last_name": f"{marker} {special}",
            }
        )
    transactions = await all_pages(api.client, TX, alice)
    wallets = {w["id"] for w in await all_pages(api.client, WALLETS, alice)}
    assert len(transactions) == len(DESCRIPTIONS) + 2  # + her funding and Bob's transfer
    return World(alice, bob, staff, transactions, wallets, marker, marked)


def involves(transaction: dict[str, Any], person: Person) -> bool:
    return any(
        (transaction.get(side) or {}).get("user_id") == person.id
        for side in ("sender", "recipient")
    )


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


# GET /wallet/transactions -----------------------------------------------------------------------

#: Filters whose every value is parsed strictly (numbers, enums, ids, times, booleans, paging).
STRICT_TRANSACTION_FILTERS = [
    "amount_min",
    "amount_max",
    "type",
    "transaction_type",
    "status",
    "funding_source",
    "currency",
    "wallet",
    "created_at_after",
    "created_at_before",
    "expiry_time_after",
    "expiry_time_before",
    "is_expired",
    "direction",
    "ordering",
    "page",
    "page_size",
    "cursor",
]
USER_FILTERS = ["sender", "recipient", "involving_user"]
#: Values a strict filter may legitimately accept (or ignore, when blank).
STRICT_ACCEPTS = {
    ("amount_min", "0"),
    ("amount_max", "0"),
    ("is_expired", "true"),
    ("is_expired", "0"),
}


def assert_strict_answer(
    name: str, value: str, response: httpx.Response, visible: set[str]
) -> None:
    assert response.status_code < 500, response.text[:300]
    assert_no_leak(response)
    if is_blank(value) and response.status_code == 400:
        assert_problem(response, 400, "validation_error")
    elif is_blank(value) or (name, value) in STRICT_ACCEPTS:
        assert response.status_code == 200, (name, value, response.text[:300])
        assert ids(response.json()["results"]) <= visible
    else:
        assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("value", INJECTIONS, ids=INJECTION_IDS)
async def test_transaction_filters_resist_injection(
    client: httpx.AsyncClient, world: World, value: str
) -> None:
    alice = world.alice
    visible = ids(world.alice_transactions)

    # reference: case-insensitive contains over reference and description, wildcards literal.
    response = await client.get(TX, params={"reference": value}, headers=alice.headers)
    if has_nul(value):
        assert_problem(response, 400, "validation_error")
    else:
        assert response.status_code == 200, response.text[:300]
        needle = value.strip().lower()
        expected = {
            t["id"]
            for t in world.alice_transactions
            if needle in t["reference"].lower() or needle in (t["description"] or "").lower()
        }
        assert ids(response.json()["results"]) == expected, value

    # sender / recipient / involving_user: exact user lookups; no payload names a user.
    for name in USER_FILTERS:
        for viewer in (alice, world.staff):
            response = await client.get(TX, params={name: value}, headers=viewer.headers)
            if has_nul(value):
                assert_problem(response, 400, "validation_error")
            elif is_blank(value):
                assert response.status_code == 200, response.text[:300]
            else:
                assert response.status_code == 200, (name, response.text[:300])
                assert response.json()["results"] == [], (name, value)

    for name in STRICT_TRANSACTION_FILTERS:
        response = await client.get(TX, params={name: value}, headers=alice.headers)
        assert_strict_answer(name, value, response, visible)


# GET /wallet ------------------------------------------------------------------------------------

STRICT_WALLET_FILTERS = [
    "currency",
    "balance_min",
    "balance_max",
    "created_at_after",
    "created_at_before",
    "is_active",
    "ordering",
    "page",
    "page_size",
    "cursor",
]
STRICT_ACCEPTS |= {
    ("balance_min", "0"),
    ("balance_max", "0"),
    ("balance_min", "-1"),
    ("balance_max", "-1"),
    ("is_active", "true"),
    ("is_active", "0"),
}


@pytest.mark.parametrize("value", INJECTIONS, ids=INJECTION_IDS)
async def test_wallet_filters_resist_injection(
    client: httpx.AsyncClient, world: World, value: str
) -> None:
    alice = world.alice
    for viewer in (alice, world.staff):
        response = await client.get(WALLETS, params={"user": value}, headers=viewer.headers)
        if has_nul(value):
            assert_problem(response, 400, "validation_error")
        elif is_blank(value):
            assert response.status_code == 200, response.text[:300]
        else:
            assert response.status_code == 200, response.text[:300]
            assert response.json()["results"] == [], value
    for name in STRICT_WALLET_FILTERS:
        response = await client.get(WALLETS, params={name: value}, headers=alice.headers)
        assert_strict_answer(name, value, response, world.alice_wallets)
        if response.status_code == 200:
            assert {w["owner"]["id"] for w in response.json()["results"]} <= {alice.id}


# GET /users (staff) -----------------------------------------------------------------------------

STRICT_USER_FILTERS = ["is_staff", "is_active", "ordering", "page", "page_size", "cursor"]
#: Each text filter, and another text filter that narrows the list to this test's users.
TEXT_USER_FILTERS = {"email": "first_name", "first_name": "last_name", "last_name": "email"}


@pytest.mark.parametrize("value", INJECTIONS, ids=INJECTION_IDS)
async def test_user_filters_resist_injection(
    client: httpx.AsyncClient, world: World, value: str
) -> None:
    staff = world.staff
    everyone = {u["id"] for u in world.marked_users}
    for name, narrower in TEXT_USER_FILTERS.items():
        response = await client.get(
            USERS, params={name: value, narrower: world.marker}, headers=staff.headers
        )
        if has_nul(value):
            assert_problem(response, 400, "validation_error")
            continue
        assert response.status_code == 200, response.text[:300]
        expected = {u["id"] for u in world.marked_users if value.lower() in u[name].lower()}
        assert ids(response.json()["results"]) == expected, (name, value)
        assert expected <= everyone
    # Not staff: refused whatever the filter says (bad values may be refused first).
    forbidden = await client.get(USERS, params={"email": value}, headers=world.alice.headers)
    assert_client_error(forbidden)
    assert world.bob.email not in forbidden.text
    for name in STRICT_USER_FILTERS:
        response = await client.get(USERS, params={name: value}, headers=staff.headers)
        assert response.status_code < 500, response.text[:300]
        assert_no_leak(response)
        if is_blank(value) and response.status_code == 200:
            continue
        if (name, value) in {("is_staff", "true"), ("is_active", "true")}:
            assert response.status_code == 200
            assert all(u[name] is True for u in response.json()["results"] if name in u)
        elif (name, value) in {("is_staff", "0"), ("is_active", "0")}:
            assert response.status_code in (200, 400), response.text[:300]
        else:
            assert_problem(response, 400, "validation_error")


async def test_like_wildcards_match_only_themselves(
    client: httpx.AsyncClient, world: World
) -> None:
    """The oracle above, spelled out for the LIKE metacharacters."""

    async def descriptions(value: str) -> set[str]:
        response = await client.get(TX, params={"reference": value}, headers=world.alice.headers)
        assert response.status_code == 200, response.text
        return {t["description"] for t in response.json()["results"]}

    assert await descriptions("%") == {"pct 100% done", "mix%and_under\\score", "from bob 50% off"}
    assert await descriptions("_") == {"under_score", "mix%and_under\\score"}
    assert await descriptions("\\") == {"back\\slash", "mix%and_under\\score"}
    assert await descriptions("%_") == set()
    assert await descriptions("' or 1=1 --") == {"quote ' or 1=1 --"}
    assert await descriptions("MIXED") == {"UPPER lower MiXeD"}


# Ordering ---------------------------------------------------------------------------------------

ORDERING_INJECTIONS = [
    "{field}; DROP TABLE users",
    "{field} desc",
    "{field})--",
    "(SELECT 1)",
    "1",
    "{field},(select pg_sleep(1))",
    "{field}::text",
    "users.{field}",
    "id",
    "password_hash",
    "{field} NULLS FIRST",
    "-",
    ",",
    "{field},",
    "CASE WHEN 1=1 THEN {field} END",
    "{field}/*",
    "{field}\u0000",
    "\u0430mount",  # a Cyrillic a
    "{FIELD}",
    "{field}%",
    "x" * 5_000,
]


@pytest.mark.parametrize(
    ("path", "field", "staff"),
    [(TX, "amount", False), (WALLETS, "balance", False), (USERS, "email", True)],
)
@pytest.mark.parametrize("template", ORDERING_INJECTIONS, ids=lambda t: repr(t)[:24])
async def test_ordering_injection_is_400(
    client: httpx.AsyncClient, world: World, path: str, field: str, staff: bool, template: str
) -> None:
    value = template.format(field=field, FIELD=field.upper())
    viewer = world.staff if staff else world.alice
    response = await client.get(path, params={"ordering": value}, headers=viewer.headers)
    problem = assert_problem(response, 400, "validation_error")
    assert any(e["field"] == "ordering" for e in problem.get("errors", [])), problem


# Hand-edited cursors ----------------------------------------------------------------------------


def decode(cursor: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    )
    return payload


class Raw(str):
    """JSON text to put into a cursor as is."""


def encode(payload: Any) -> str:
    text = payload if isinstance(payload, Raw) else json.dumps(payload)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


#: Values that fit no ordering field (wrong type or out of the column's range).
BAD_CURSOR_VALUES: list[Any] = [
    10**30,
    -(10**30),
    None,
    1.5,
    [],
    {},
    {"dt": "0001-01-01T00:00:00+14:00"},
    {"dt": "9999-12-31T23:59:59-14:00"},
    {"dt": "2020-01-01T00:00:00"},
    {"dt": "garbage"},
    {"dt": 5},
]
#: Values that fit some fields: a 2xx (within the caller's rows) or a 400, never a 5xx.
ODD_CURSOR_VALUES: list[Any] = ["a string", "' OR 1=1 --", 5, True, "\u0000", "x" * 5_000]

CURSOR_CASES = (
    [
        (TX, ordering, False)
        for ordering in (
            "amount",
            "-created_at",
            "expiry_time",
            "type",
            "status",
            "sender_username",
            "recipient_username",
        )
    ]
    + [
        (WALLETS, ordering, False)
        for ordering in ("balance", "created_at", "username", "is_active")
    ]
    + [(USERS, ordering, True) for ordering in ("created_at", "username", "email")]
)


@pytest.mark.parametrize(("path", "ordering", "staff"), CURSOR_CASES)
async def test_edited_cursors_are_400_never_500(
    client: httpx.AsyncClient, world: World, path: str, ordering: str, staff: bool
) -> None:
    viewer = world.staff if staff else world.alice
    params: dict[str, Any] = {"ordering": ordering, "page_size": 1}
    first = await client.get(path, params=params, headers=viewer.headers)
    assert first.status_code == 200, first.text
    genuine = first.json()["next_cursor"]
    assert genuine, "needs at least two rows"
    payload = decode(genuine)
    assert set(payload) == {"o", "v", "i"}, payload
    ok = await client.get(path, params={**params, "cursor": genuine}, headers=viewer.headers)
    assert ok.status_code == 200, ok.text

    async def attempt(edited: Any) -> httpx.Response:
        response = await client.get(
            path, params={**params, "cursor": encode(edited)}, headers=viewer.headers
        )
        assert response.status_code < 500, (edited, response.text[:300])
        assert_no_leak(response)
        return response

    for value in BAD_CURSOR_VALUES:
        response = await attempt({**payload, "v": [value]})
        assert_problem(response, 400, "validation_error")
    for value in ODD_CURSOR_VALUES:
        response = await attempt({**payload, "v": [value]})
        if response.status_code != 400:
            assert response.status_code == 200
            if path == TX:
                assert all(involves(t, world.alice) for t in response.json()["results"])
            if path == WALLETS:
                assert {w["owner"]["id"] for w in response.json()["results"]} <= {world.alice.id}
    for edited in (
        {**payload, "i": 5},
        {**payload, "i": None},
        {**payload, "i": ["x"]},
        {**payload, "i": "not-a-uuid"},
        {**payload, "o": "0" * 12},
        {**payload, "v": payload["v"] * 2},
        {**payload, "v": "abc"},
        Raw(json.dumps({**payload, "v": None}).replace("null", deep(5_000))),
        Raw(deep(5_000)),
        [payload],
        "a string",
    ):
        assert_problem(await attempt(edited), 400, "validation_error")
