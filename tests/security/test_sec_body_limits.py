"""Oversized, deeply nested and non-JSON bodies on every JSON endpoint (docs/api.md "Basics":
bodies over 64 KiB are 413; a Content-Type that is not JSON is 415; malformed JSON is 400; never
a 5xx for bad input).

Webhooks tolerate unknown fields, so a deeply nested extra field can pass the framework's parser
and reach the idempotency fingerprint: the depths around the parser's limit are probed one by
one there, with an ``Idempotency-Key``, to show that no depth falls between the two parsers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sec_support import app_client

from entrypoints.bootstrap import Container
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import Settings
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import PASSWORD, Api, Person, assert_problem, idem, new_phone

LIMIT = 64 * 1024


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    #: A valid body for this endpoint (so that only the size or the nesting is wrong).
    body: dict[str, Any]
    headers: dict[str, str]
    secret: str | None = None  # webhooks: signed with this secret

    def signed_headers(
        self, content: bytes, content_type: str | None = "application/json"
    ) -> dict[str, str]:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        headers.update(self.headers)
        if self.secret is not None:
            headers["X-Signature"] = sign(content, self.secret)["X-Signature"]
        return headers


@dataclass
class Fixture:
    person: Person
    staff: Person
    endpoints: dict[str, Endpoint]


@pytest.fixture(scope="module")
async def world(api: Api) -> Fixture:
    person = await api.person()
    staff = await api.staff()
    await api.fund(person, "10.00")
    other = await api.person()
    transaction = (await api.send(person, other, "1.00")).json()
    auth, staff_auth = person.headers, staff.headers
    username = f"big_{uuid.uuid4().hex[:10]}"
    endpoints = [
        Endpoint(
            "register",
            "POST",
            "/api/v1/auth/register",
            {
                "email": f"{username}@example.com",
                "username": username,
                "password": PASSWORD,
                "phone_number": new_phone(),
            },
            {},
        ),
        Endpoint(
            "token", "POST", "/api/v1/auth/token", {"email": person.email, "password": "x"}, {}
        ),
        Endpoint("refresh", "POST", "/api/v1/auth/token/refresh", {"refresh_token": "rt_x"}, {}),
        Endpoint(
            "logout",
            "POST",
            "/api/v1/auth/logout",
            {"refresh_token": person.refresh_token},
            auth,
        ),
        Endpoint("patch-me", "PATCH", "/api/v1/users/me", {"first_name": "Big"}, auth),
        Endpoint("open-wallet", "POST", "/api/v1/wallet", {"currency": "GBP"}, auth),
        Endpoint(
            "freeze-wallet",
            "PATCH",
            f"/api/v1/wallet/{person.wallet_id}",
            {"is_active": False},
            staff_auth,
        ),
        Endpoint(
            "create-transaction",
            "POST",
            "/api/v1/wallet/transactions",
            {"type": "transfer", "amount": "1.00", "recipient": other.username},
            {**auth, **idem()},
        ),
        Endpoint(
            "action",
            "POST",
            f"/api/v1/wallet/transactions/{transaction['id']}/action",
            {"action": "cancel"},
            {**auth, **idem()},
        ),
        Endpoint(
            "paysend",
            "POST",
            "/api/v1/wallet/webhook/paysend",
            {
                "transactionId": f"ps-{uuid.uuid4().hex}",
                "status": "PENDING",  # acknowledged and ignored: nothing is ever credited
                "recipient": {"phone_number": person.phone_number, "amount": "5.00"},
            },
            {},
            WEBHOOK_SECRET,
        ),
        Endpoint(
            "cashout",
            "POST",
            "/api/v1/wallet/webhook/cashout",
            {"phone_number": person.phone_number, "withdrawal_code": "WRONGCODE1"},
            {},
            ATM_SECRET,
        ),
    ]
    return Fixture(person, staff, {e.name: e for e in endpoints})


ENDPOINTS = [
    "register",
    "token",
    "refresh",
    "logout",
    "patch-me",
    "open-wallet",
    "freeze-wallet",
    "create-transaction",
    "action",
    "paysend",
    "cashout",
]


async def send(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    content: bytes,
    *,
    streamed: bool = False,
    content_type: str | None = "application/json",
) -> httpx.Response:
    headers = endpoint.signed_headers(content, content_type)
    if streamed:

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(content), 8192):
                yield content[start : start + 8192]

        return await client.request(
            endpoint.method, endpoint.path, content=chunks(), headers=headers
        )
    return await client.request(endpoint.method, endpoint.path, content=content, headers=headers)


# Oversized --------------------------------------------------------------------------------------


def oversized(endpoint: Endpoint, size: int) -> bytes:
    """The valid body with one more field that makes it ``size`` bytes long."""
    base = json.dumps({**endpoint.body, "padding": ""}).encode()
    return base.replace(b'"padding": ""', b'"padding": "' + b"a" * (size - len(base)) + b'"')


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("name", ENDPOINTS)
async def test_body_over_64_kib_is_413(api: Api, world: Fixture, name: str, streamed: bool) -> None:
    endpoint = world.endpoints[name]
    for size in (LIMIT + 1, 1024 * 1024):
        content = oversized(endpoint, size)
        assert len(content) == size
        response = await send(api.client, endpoint, content, streamed=streamed)
        assert_problem(response, 413, "payload_too_large")
    # The same body just under the limit gets past the size check (then fails on "padding").
    content = oversized(endpoint, LIMIT - 16)
    response = await send(api.client, endpoint, content, streamed=streamed)
    assert response.status_code != 413, response.text[:300]
    assert response.status_code < 500, response.text[:300]


async def test_oversized_bodies_changed_nothing(api: Api, world: Fixture) -> None:
    for name in ENDPOINTS:
        endpoint = world.endpoints[name]
        response = await send(api.client, endpoint, oversized(endpoint, LIMIT + 1))
        assert response.status_code == 413, (name, response.text[:200])
    wallet = await api.wallet(world.person)
    assert wallet["is_active"] is True
    assert wallet["balance"] == "10.00"
    me = await api.client.get("/api/v1/users/me", headers=world.person.headers)
    assert me.json()["first_name"] == ""
    wallets = await api.client.get("/api/v1/wallet", headers=world.person.headers)
    assert {w["currency"] for w in wallets.json()["results"]} == {"USD"}


# Deeply nested ----------------------------------------------------------------------------------


def nested(endpoint: Endpoint, depth: int, shape: str) -> bytes:
    if shape == "array":
        return b"[" * depth + b"]" * depth
    if shape == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    # A valid body with a deeply nested extra field.
    base = json.dumps({**endpoint.body, "extra": None}).encode()
    return base.replace(b'"extra": null', b'"extra": ' + b"[" * depth + b"]" * depth)


@pytest.mark.parametrize("shape", ["array", "object", "field"])
@pytest.mark.parametrize("name", ENDPOINTS)
async def test_nesting_10000_deep_is_400(api: Api, world: Fixture, name: str, shape: str) -> None:
    endpoint = world.endpoints[name]
    content = nested(endpoint, 10_000, shape)
    assert len(content) < LIMIT
    response = await send(api.client, endpoint, content)
    assert_problem(response, 400, "validation_error")


WEBHOOK_BOUNDARY = ["paysend", "cashout"]


async def first_refused_depth(attempt: Callable[[int], Awaitable[httpx.Response]]) -> int:
    """The smallest nesting depth answered 400 (every probe must be a non-5xx answer)."""
    low, high = 1, 10_000  # low is accepted, high is refused
    assert (await attempt(low)).status_code != 400
    assert (await attempt(high)).status_code == 400
    while high - low > 1:
        middle = (low + high) // 2
        if (await attempt(middle)).status_code == 400:
            high = middle
        else:
            low = middle
    return high


@pytest.mark.parametrize("with_key", [True, False], ids=["idempotency-key", "no-key"])
@pytest.mark.parametrize("name", WEBHOOK_BOUNDARY)
async def test_webhook_nesting_around_the_parser_limit_is_never_5xx(
    api: Api, world: Fixture, name: str, with_key: bool
) -> None:
    base = world.endpoints[name]
    body = dict(base.body)
    if name == "cashout":
        body["phone_number"] = new_phone()  # nobody's: refused as an invalid code
    answers: dict[int, int] = {}

    async def attempt(depth: int) -> httpx.Response:
        endpoint = Endpoint(name, base.method, base.path, body, {}, base.secret)
        if with_key:
            endpoint.headers = {"Idempotency-Key": uuid.uuid4().hex}
        response = await send(api.client, endpoint, nested(endpoint, depth, "field"))
        answers[depth] = response.status_code
        assert response.status_code < 500, (depth, response.text[:300])
        return response

    limit = await first_refused_depth(attempt)
    # The exact limit moves a little with the stack depth of each request: sweep around it.
    for depth in range(max(1, limit - 60), limit + 20):
        await attempt(depth)
    accepted = {200} if name == "paysend" else {422}
    assert set(answers.values()) == {*accepted, 400}, answers
    assert {s for d, s in answers.items() if d < limit - 60} <= accepted, answers
    assert {s for d, s in answers.items() if d > limit + 60} == {400}, answers
    assert (await api.wallet(world.person))["balance"] == "10.00"


# Not JSON ---------------------------------------------------------------------------------------

NOT_JSON = [
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/jsonl",
    "application/octet-stream",
    "application/json; charset=iso-8859-1",
    "application/problem+xml",
]
JSON = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/merge-patch+json",
    "application/vnd.api+json; charset=utf-8",
    None,  # no Content-Type at all: still parsed as JSON
]


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_a_body_that_is_not_json_is_415(api: Api, world: Fixture, name: str) -> None:
    endpoint = world.endpoints[name]
    content = json.dumps(endpoint.body).encode()  # valid JSON, but labelled as something else
    for content_type in NOT_JSON:
        response = await send(api.client, endpoint, content, content_type=content_type)
        body = assert_problem(response, 415, "unsupported_media_type")
        assert "application/json" in body["detail"]


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_a_json_body_is_parsed_whichever_json_type_it_declares(
    api: Api, world: Fixture, name: str
) -> None:
    endpoint = world.endpoints[name]
    for content_type in JSON:
        # An unknown field: a body that is parsed gets 400 (webhooks tolerate it and answer).
        content = json.dumps({**endpoint.body, "unexpected": 1}).encode()
        response = await send(api.client, endpoint, content, content_type=content_type)
        assert response.status_code not in (415, 500), (content_type, response.text[:300])
        if endpoint.secret is None:
            assert_problem(response, 400, "validation_error")


async def test_non_json_bodies_changed_nothing(api: Api, world: Fixture) -> None:
    for name in ENDPOINTS:
        endpoint = world.endpoints[name]
        content = json.dumps(endpoint.body).encode()
        response = await send(api.client, endpoint, content, content_type="text/plain")
        assert response.status_code == 415, (name, response.text[:200])
    wallet = await api.wallet(world.person)
    assert wallet["is_active"] is True
    assert wallet["balance"] == "10.00"
    me = await api.client.get("/api/v1/users/me", headers=world.person.headers)
    assert me.json()["first_name"] == ""
    wallets = await api.client.get("/api/v1/wallet", headers=world.person.headers)
    assert {w["currency"] for w in wallets.json()["results"]} == {"USD"}


@pytest.mark.parametrize("name", WEBHOOK_BOUNDARY)
async def test_webhooks_check_the_signature_before_the_media_type(
    api: Api, world: Fixture, settings: Settings, container: Container, name: str
) -> None:
    """docs/api.md "Incoming webhooks": IP (403), then signature (401), then the body (415 among
    them)."""
    endpoint = world.endpoints[name]
    content = json.dumps(endpoint.body).encode()
    plain = {"Content-Type": "text/plain"}
    async with app_client(settings, "127.0.0.2", container) as foreign:
        response = await foreign.post(
            endpoint.path, content=content, headers=endpoint.signed_headers(content, "text/plain")
        )
        assert_problem(response, 403, "ip_not_allowed")
    assert_problem(
        await api.client.post(endpoint.path, content=content, headers=plain),
        401,
        "invalid_signature",
    )
    response = await send(api.client, endpoint, content, content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")
