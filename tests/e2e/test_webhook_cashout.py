"""ATM cash-out verification webhook over HTTP.

docs/api.md "Incoming webhooks": ``{phone_number, withdrawal_code}`` signed with the ATM secret
posts the held amount (200 approved); a wrong code is 422 ``invalid_withdrawal_code``, the 5th wrong
one cancels the cash-out (422 ``too_many_attempts``) and releases the hold; expired -> 422
``expired``; already completed -> 409 ``not_pending``. Malformed bodies are 4xx problems that move
nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import Settings
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import Api, Person, assert_problem, idem, new_phone
from wallet_core.local import MemoryNotifier

PATH = "/api/v1/wallet/webhook/cashout"


@dataclass
class Pending:
    person: Person
    transaction_id: str
    code: str
    amount: str


def stamped(body: bytes, secret: str = ATM_SECRET) -> dict[str, str]:
    return {"X-Signature": sign(body, secret)["X-Signature"]}


async def post_signed(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    signed = stamped(body) if headers is None else headers
    return await client.post(
        PATH, content=body, headers={"Content-Type": "application/json", **signed}
    )


async def verify(client: httpx.AsyncClient, phone: str, code: str) -> httpx.Response:
    body = json.dumps({"phone_number": phone, "withdrawal_code": code}).encode()
    return await post_signed(client, body)


async def request_cashout(
    api: Api,
    person: Person,
    amount: str,
    client: httpx.AsyncClient | None = None,
) -> Pending:
    response = await (client or api.client).post(
        "/api/v1/wallet/transactions",
        json={"type": "withdrawal", "amount": amount},
        headers={**person.headers, **idem()},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["type"] == "withdrawal"
    assert created["status"] == "pending"
    assert len(created["withdrawal_code"]) >= 8
    return Pending(person, created["id"], created["withdrawal_code"], amount)


async def funded_cashout(api: Api, fund: str = "100.00", amount: str = "30.00") -> Pending:
    person = await api.person()
    await api.fund(person, fund)
    return await request_cashout(api, person, amount)


async def money(api: Api, person: Person) -> tuple[str, str, str]:
    wallet = await api.wallet(person)
    return wallet["balance"], wallet["available_balance"], wallet["held_balance"]


async def status_of(api: Api, pending: Pending) -> str:
    response = await api.client.get(
        f"/api/v1/wallet/transactions/{pending.transaction_id}", headers=pending.person.headers
    )
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def wrong_code(code: str) -> str:
    # Same alphabet and length, so only the value is wrong.
    return ("2" if code[0] != "2" else "3") + code[1:]


@asynccontextmanager
async def app_with(make_settings: Callable[..., Settings], **env: str) -> AsyncIterator[Any]:
    settings = make_settings(**env)
    container = build(settings, notifier=MemoryNotifier())
    app = create_app(settings, container, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await container.close()


# The happy path ---------------------------------------------------------------------------------


async def test_right_code_posts_the_held_amount(api: Api) -> None:
    pending = await funded_cashout(api, "100.00", "30.00")
    assert await money(api, pending.person) == ("100.00", "70.00", "30.00")

    response = await verify(api.client, pending.person.phone_number, pending.code)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "approved",
        "amount": "30.00",
        "currency": "USD",
        "transaction_id": pending.transaction_id,
    }
    assert await money(api, pending.person) == ("70.00", "70.00", "0.00")
    assert await status_of(api, pending) == "completed"
    await api.audit_clean()


async def test_legacy_signature_and_loose_code_formatting_are_accepted(api: Api) -> None:
    pending = await funded_cashout(api, "10.00", "4.00")
    loose = f" {pending.code[:4].lower()}-{pending.code[4:].lower()} "
    body = json.dumps(
        {"phone_number": pending.person.phone_number, "withdrawal_code": loose}
    ).encode()
    legacy = {"X-Paysend-Signature": sign(body, ATM_SECRET)["X-Paysend-Signature"]}
    response = await post_signed(api.client, body, legacy)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert await money(api, pending.person) == ("6.00", "6.00", "0.00")


async def test_paysend_secret_does_not_sign_cashouts(api: Api) -> None:
    pending = await funded_cashout(api, "10.00", "4.00")
    body = json.dumps(
        {"phone_number": pending.person.phone_number, "withdrawal_code": pending.code}
    ).encode()
    assert_problem(
        await post_signed(api.client, body, stamped(body, WEBHOOK_SECRET)), 401, "invalid_signature"
    )
    assert_problem(await post_signed(api.client, body, {}), 401, "invalid_signature")
    assert await money(api, pending.person) == ("10.00", "6.00", "4.00")
    assert await status_of(api, pending) == "pending"


async def test_already_completed_is_not_pending(api: Api) -> None:
    pending = await funded_cashout(api, "50.00", "20.00")
    first = await verify(api.client, pending.person.phone_number, pending.code)
    assert first.status_code == 200, first.text

    again = await verify(api.client, pending.person.phone_number, pending.code)

    assert_problem(again, 409, "not_pending")
    assert await money(api, pending.person) == ("30.00", "30.00", "0.00")
    await api.audit_clean()


async def test_concurrent_verifications_post_once(api: Api) -> None:
    pending = await funded_cashout(api, "50.00", "20.00")
    responses = await asyncio.gather(
        *(verify(api.client, pending.person.phone_number, pending.code) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 7, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"not_pending"}
    assert await money(api, pending.person) == ("30.00", "30.00", "0.00")
    await api.audit_clean()


# Wrong codes ------------------------------------------------------------------------------------


async def test_wrong_code_is_refused_and_the_hold_stays(api: Api) -> None:
    pending = await funded_cashout(api, "100.00", "30.00")
    response = await verify(api.client, pending.person.phone_number, wrong_code(pending.code))
    assert_problem(response, 422, "invalid_withdrawal_code")
    assert await money(api, pending.person) == ("100.00", "70.00", "30.00")
    assert await status_of(api, pending) == "pending"
    # The right code still works after one miss.
    ok = await verify(api.client, pending.person.phone_number, pending.code)
    assert ok.status_code == 200, ok.text


async def test_unknown_phone_is_an_invalid_code(api: Api) -> None:
    pending = await funded_cashout(api, "10.00", "5.00")
    response = await verify(api.client, new_phone(), pending.code)
    assert_problem(response, 422, "invalid_withdrawal_code")
    assert await status_of(api, pending) == "pending"


async def test_fifth_wrong_code_cancels_and_releases(api: Api) -> None:
    pending = await funded_cashout(api, "100.00", "30.00")
    phone, bad = pending.person.phone_number, wrong_code(pending.code)
    for attempt in range(1, 5):
        response = await verify(api.client, phone, bad)
        assert_problem(response, 422, "invalid_withdrawal_code")
        assert await status_of(api, pending) == "pending", attempt

    fifth = await verify(api.client, phone, bad)

    assert_problem(fifth, 422, "too_many_attempts")
    assert await status_of(api, pending) == "cancelled"
    assert await money(api, pending.person) == ("100.00", "100.00", "0.00")
    # The real code is dead now.
    late = await verify(api.client, phone, pending.code)
    assert_problem(late, 409, "not_pending")
    assert await money(api, pending.person) == ("100.00", "100.00", "0.00")
    await api.audit_clean()


async def test_concurrent_wrong_codes_still_cancel(api: Api) -> None:
    """Guesses racing each other must not lose count: ten wrong codes at once cancel it."""
    pending = await funded_cashout(api, "100.00", "30.00")
    bad = wrong_code(pending.code)
    responses = await asyncio.gather(
        *(verify(api.client, pending.person.phone_number, bad) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {422}, [r.text for r in responses]
    codes = [r.json()["code"] for r in responses]
    assert set(codes) <= {"invalid_withdrawal_code", "too_many_attempts"}
    assert codes.count("too_many_attempts") == 1, codes
    assert await status_of(api, pending) == "cancelled"
    assert await money(api, pending.person) == ("100.00", "100.00", "0.00")
    await api.audit_clean()


# Expiry -----------------------------------------------------------------------------------------


async def test_expired_code_is_refused_and_the_hold_released(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    await api.fund(person, "100.00")
    async with app_with(make_settings, CASHOUT_EXPIRY_SECONDS="1") as http:
        pending = await request_cashout(api, person, "30.00", client=http)
        assert await money(api, person) == ("100.00", "70.00", "30.00")
        await asyncio.sleep(1.1)

        response = await verify(http, person.phone_number, pending.code)

    assert_problem(response, 422, "expired")
    assert await status_of(api, pending) == "expired"
    assert await money(api, person) == ("100.00", "100.00", "0.00")
    again = await verify(api.client, person.phone_number, pending.code)
    assert_problem(again, 422, "expired")
    assert await money(api, person) == ("100.00", "100.00", "0.00")
    await api.audit_clean()


# Malformed bodies (correctly signed, so the body itself is judged) ------------------------------


def _malformed(phone: str, code: str) -> dict[str, bytes]:
    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    return {
        "empty": b"",
        "not json": b"phone_number=" + phone.encode() + b"&withdrawal_code=" + code.encode(),
        "truncated json": dumps({"phone_number": phone, "withdrawal_code": code})[:-2],
        "json array": dumps([{"phone_number": phone, "withdrawal_code": code}]),
        "json array of strings": dumps([phone, code]),
        "json string": dumps(code),
        "json number": b"42",
        "json null": b"null",
        "empty object": b"{}",
        "no code": dumps({"phone_number": phone}),
        "no phone": dumps({"withdrawal_code": code}),
        "code as number": dumps({"phone_number": phone, "withdrawal_code": 12345678}),
        "code null": dumps({"phone_number": phone, "withdrawal_code": None}),
        "code empty": dumps({"phone_number": phone, "withdrawal_code": ""}),
        "code as list": dumps({"phone_number": phone, "withdrawal_code": [code]}),
        "phone as number": dumps({"phone_number": int(phone[1:]), "withdrawal_code": code}),
        "phone as bool": dumps({"phone_number": True, "withdrawal_code": code}),
        "huge code": dumps({"phone_number": phone, "withdrawal_code": code * 5_000}),
        "huge phone": dumps({"phone_number": phone * 3_000, "withdrawal_code": code}),
        "nested garbage": dumps(
            {"phone_number": {"$ne": None}, "withdrawal_code": {"$regex": ".*", "x": [[{}]]}}
        ),
        "deeply nested": b'{"withdrawal_code":' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        "deeply nested object": b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
        "invalid utf-8": b'{"phone_number":"' + phone.encode() + b'","withdrawal_code":"\xc3("}',
        "control characters": b'{"phone_number":"\x00\x01","withdrawal_code":"\x1b[2J"}',
        "trailing garbage": dumps({"phone_number": phone, "withdrawal_code": code}) + b"}}}",
    }


MALFORMED_CASES = list(_malformed("+15550000000", "ABCDEFGHJK"))


@pytest.mark.parametrize("case", MALFORMED_CASES)
async def test_malformed_body_is_a_4xx_problem_and_moves_nothing(api: Api, case: str) -> None:
    pending = await funded_cashout(api, "40.00", "10.00")
    body = _malformed(pending.person.phone_number, pending.code)[case]

    response = await post_signed(api.client, body)

    assert 400 <= response.status_code < 500, response.text
    assert response.status_code not in (401, 403)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code
    assert await money(api, pending.person) == ("40.00", "30.00", "10.00")
    assert await status_of(api, pending) == "pending"


async def test_many_malformed_bodies_do_not_count_as_attempts(api: Api) -> None:
    pending = await funded_cashout(api, "40.00", "10.00")
    phone = pending.person.phone_number
    for _ in range(6):
        body = json.dumps({"phone_number": phone, "withdrawal_code": 12345678}).encode()
        assert_problem(await post_signed(api.client, body), 400)
    assert await status_of(api, pending) == "pending"
    ok = await verify(api.client, phone, pending.code)
    assert ok.status_code == 200, ok.text
    assert await money(api, pending.person) == ("30.00", "30.00", "0.00")


async def test_body_over_64_kib_is_413_and_moves_nothing(api: Api) -> None:
    pending = await funded_cashout(api, "40.00", "10.00")
    body = json.dumps(
        {
            "phone_number": pending.person.phone_number,
            "withdrawal_code": pending.code,
            "padding": "x" * (64 * 1024),
        }
    ).encode()
    assert_problem(await post_signed(api.client, body), 413, "payload_too_large")
    assert await status_of(api, pending) == "pending"
    assert await money(api, pending.person) == ("40.00", "30.00", "10.00")


async def test_a_code_issued_before_a_secret_key_rotation_still_verifies(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    # Rotating SECRET_KEY (the old one moves to PREVIOUS_SECRET_KEYS) changes the key of the
    # codes' digests: cash-outs issued just before must still be redeemable at the ATM.
    session_key = make_settings().secret_key  # signed the person's token
    old, new = (
        "old-secret-key-for-the-rotation-test-0123",
        "new-secret-key-for-the-rotation-test-4567",
    )
    person = await api.person()
    await api.fund(person, "20.00")
    async with app_with(make_settings, SECRET_KEY=old, PREVIOUS_SECRET_KEYS=session_key) as before:
        first = await request_cashout(api, person, "5.00", before)
        second = await request_cashout(api, person, "3.00", before)
    async with app_with(make_settings, SECRET_KEY=new, PREVIOUS_SECRET_KEYS=old) as rotated:
        approved = await verify(rotated, person.phone_number, first.code)
        assert approved.status_code == 200, approved.text
        assert approved.json()["transaction_id"] == first.transaction_id
    async with app_with(make_settings, SECRET_KEY=new) as forgotten:
        # Without the old key the code matches nothing: it is the rotation that found it.
        refused = await verify(forgotten, person.phone_number, second.code)
        assert_problem(refused, 422, "invalid_withdrawal_code")
    async with app_with(make_settings, SECRET_KEY=new, PREVIOUS_SECRET_KEYS=old) as rotated:
        approved = await verify(rotated, person.phone_number, second.code)
        assert approved.status_code == 200, approved.text
        assert approved.json()["transaction_id"] == second.transaction_id
