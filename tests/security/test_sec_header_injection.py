"""Header injection. ``X-Request-ID`` is echoed only when it is a plain token, so a hostile value
(CR/LF, NUL, very long, non-ASCII) is never reflected and never splits the response; a hostile
``Idempotency-Key`` is 400 ``idempotency_key_invalid`` wherever the header is read, is not
reflected, and moves nothing. (Simple cases live in tests/e2e/test_platform.py and
tests/e2e/test_idempotency.py.)"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from entrypoints.http.webhooks.signatures import sign
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import Api, assert_problem, idem

TX = "/api/v1/wallet/transactions"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

HOSTILE_REQUEST_IDS: list[bytes] = [
    b"abc\r\nSet-Cookie: session=stolen",
    b"abc\nX-Injected: 1",
    b"abc\rX-Injected: 1",
    b"\r\n\r\n<html>smuggled body</html>",
    b"abc%0d%0aSet-Cookie:%20x=1",
    b"abc\x00def",
    b"abc\tdef",
    b"x" * 129,
    b"x" * 16_384,
    "caf\u00e9-\u2028-\U0001f600".encode(),
    b"\xe9\xff\xfe",  # latin-1 / invalid UTF-8
    b"",
    b" ",
]


async def requests_of_every_kind(
    client: httpx.AsyncClient, api: Api, request_id: bytes
) -> list[httpx.Response]:
    """A 200, a 401, a 404, a 400, a 405 and a 413, each carrying ``request_id``."""
    person = await api.person()
    header = [(b"X-Request-ID", request_id)]
    auth = [(b"Authorization", f"Bearer {person.access_token}".encode())]
    return [
        await client.get("/health/live", headers=header),
        await client.get("/api/v1/users/me", headers=[*header, *auth]),
        await client.get("/api/v1/users/me", headers=header),
        await client.get("/api/v1/no-such-route", headers=header),
        await client.post(
            "/api/v1/auth/token",
            content=b'{"email": ',
            headers=[*header, (b"Content-Type", b"application/json")],
        ),
        await client.delete("/api/v1/auth/register", headers=header),
        await client.post(
            "/api/v1/auth/register",
            content=b'{"email": "' + b"a" * 70_000 + b'"}',
            headers=[*header, (b"Content-Type", b"application/json")],
        ),
    ]


@pytest.mark.parametrize("request_id", HOSTILE_REQUEST_IDS, ids=lambda v: repr(v)[:30])
async def test_hostile_request_id_is_replaced_never_reflected(
    client: httpx.AsyncClient, api: Api, request_id: bytes
) -> None:
    responses = await requests_of_every_kind(client, api, request_id)
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 400, 405, 413]
    generated = set()
    for response in responses:
        values = response.headers.get_list("x-request-id")
        assert len(values) == 1, values  # one header, never split or duplicated
        value = values[0]
        assert VALID_REQUEST_ID.match(value), value
        assert value.encode() != request_id
        generated.add(value)
        for name, raw in response.headers.raw:
            assert b"\r" not in raw and b"\n" not in raw and b"\x00" not in raw, (name, raw)
            assert name.lower() not in (b"set-cookie", b"x-injected"), name
        assert b"smuggled" not in response.content
        if response.status_code >= 400:
            assert response.json()["request_id"] == value
    assert len(generated) == len(responses)  # a fresh id per request, not a shared fallback


@pytest.mark.parametrize(
    "request_id", ["a", "x" * 128, "A-Z.0:9_z", str(uuid.uuid4())], ids=lambda v: v[:12]
)
async def test_valid_request_ids_are_echoed_exactly(
    client: httpx.AsyncClient, request_id: str
) -> None:
    """Control for the test above: the header is echoed when it is a plain token."""
    response = await client.get("/api/v1/no-such-route", headers={"X-Request-ID": request_id})
    assert response.headers.get_list("x-request-id") == [request_id]
    assert response.json()["request_id"] == request_id


async def test_two_request_id_headers_do_not_both_come_back(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/health/live", headers=[(b"X-Request-ID", b"first"), (b"X-Request-ID", b"second")]
    )
    values = response.headers.get_list("x-request-id")
    assert len(values) == 1
    assert values[0] in ("first", "second") or len(values[0]) >= 16


# Idempotency-Key --------------------------------------------------------------------------------

HOSTILE_KEYS: list[bytes] = [
    b"key\r\nX-Injected: 1",
    b"key\nnext",
    b"key\rnext",
    b"key\x00",
    b"\x00",
    b"key\x1b[31m",
    b"key\xe9",  # a latin-1 byte
    "key-\u00e9".encode(),
    b"\x7f",
    b"k" * 256,
    b"k" * 10_000,
]


async def assert_key_refused(response: httpx.Response, key: bytes) -> None:
    assert_problem(response, 400, "idempotency_key_invalid")
    assert b"X-Injected" not in response.content
    assert all(name.lower() != b"x-injected" for name, _ in response.headers.raw)
    if len(key) > 3:
        assert key not in response.content


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda v: repr(v)[:24])
async def test_hostile_idempotency_key_is_refused_everywhere(api: Api, key: bytes) -> None:
    client = api.client
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    transaction = (await api.send(alice, bob, "1.00")).json()
    cash = await client.post(
        TX, json={"type": "withdrawal", "amount": "2.00"}, headers={**alice.headers, **idem()}
    )
    assert cash.status_code == 201, cash.text

    def with_key(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        return [(k.encode(), v.encode()) for k, v in headers.items()] + [(b"Idempotency-Key", key)]

    for body in (
        {"type": "transfer", "amount": "1.00", "recipient": bob.username},
        {"type": "withdrawal", "amount": "1.00"},
    ):
        response = await client.post(TX, json=body, headers=with_key(alice.headers))
        await assert_key_refused(response, key)
    action = await client.post(
        f"{TX}/{transaction['id']}/action", json={"action": "accept"}, headers=with_key(bob.headers)
    )
    await assert_key_refused(action, key)

    deposit = json.dumps(
        {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": bob.phone_number, "amount": "5.00"},
        }
    ).encode()
    paysend = await client.post(
        "/api/v1/wallet/webhook/paysend",
        content=deposit,
        headers=with_key(
            {
                "Content-Type": "application/json",
                "X-Signature": sign(deposit, WEBHOOK_SECRET)["X-Signature"],
            }
        ),
    )
    await assert_key_refused(paysend, key)
    verification = json.dumps(
        {"phone_number": alice.phone_number, "withdrawal_code": cash.json()["withdrawal_code"]}
    ).encode()
    cashout = await client.post(
        "/api/v1/wallet/webhook/cashout",
        content=verification,
        headers=with_key(
            {
                "Content-Type": "application/json",
                "X-Signature": sign(verification, ATM_SECRET)["X-Signature"],
            }
        ),
    )
    await assert_key_refused(cashout, key)

    # Nothing moved: one pending transfer and one pending cash-out, as before.
    alice_wallet: dict[str, Any] = await api.wallet(alice)
    assert (alice_wallet["balance"], alice_wallet["held_balance"]) == ("20.00", "3.00")
    bob_wallet = await api.wallet(bob)
    assert (bob_wallet["balance"], bob_wallet["pending_incoming"]) == ("0.00", "1.00")
    listed = await client.get(TX, headers=alice.headers)
    assert listed.json()["count"] == 3  # funding, transfer, cash-out
    assert {t["status"] for t in listed.json()["results"] if t["type"] != "deposit"} == {"pending"}
