"""Webhook replays (docs/api.md "Incoming webhooks"): a captured delivery replayed inside the
tolerance credits once; a captured ``X-Signature`` replayed after five minutes is stale (time is
driven by signing with an old timestamp) and cannot be downgraded to the legacy header; a signature
made for one webhook is refused by the other, and does not even count as a cash-out code attempt."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from entrypoints.http.webhooks.signatures import sign
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import Api, Person, assert_problem, idem

PAYSEND = "/api/v1/wallet/webhook/paysend"
CASHOUT = "/api/v1/wallet/webhook/cashout"
TX = "/api/v1/wallet/transactions"


def deposit(phone: str, amount: str, transaction_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "transactionId": transaction_id or f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": phone, "amount": amount},
        }
    ).encode()


def stamped(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    return {"X-Signature": sign(body, secret, at)["X-Signature"]}


def legacy(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Paysend-Signature": sign(body, secret)["X-Paysend-Signature"]}


async def deliver(
    client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        path, content=body, headers={"Content-Type": "application/json", **headers}
    )


async def balance(api: Api, person: Person) -> tuple[str, str, str]:
    wallet = await api.wallet(person)
    return wallet["balance"], wallet["available_balance"], wallet["held_balance"]


async def deposit_ids(api: Api, person: Person) -> list[str]:
    response = await api.client.get(TX, params={"type": "deposit"}, headers=person.headers)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["results"]]


# Replay inside the tolerance --------------------------------------------------------------------


async def test_captured_delivery_replayed_within_tolerance_credits_once(api: Api) -> None:
    person = await api.person()
    body = deposit(person.phone_number, "15.00")
    # Captured four minutes ago: still inside the five-minute window.
    captured = stamped(body, at=int(time.time()) - 240)
    first = await deliver(api.client, PAYSEND, body, captured)
    assert first.status_code == 200, first.text
    credited = first.json()["transaction_id"]

    sequential = [await deliver(api.client, PAYSEND, body, captured) for _ in range(3)]
    concurrent = await asyncio.gather(
        *(deliver(api.client, PAYSEND, body, captured) for _ in range(8))
    )
    with_keys = [await deliver(api.client, PAYSEND, body, {**captured, **idem()}) for _ in range(2)]
    for response in (*sequential, *concurrent, *with_keys):
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "processed", "transaction_id": credited}

    assert await balance(api, person) == ("15.00", "15.00", "0.00")
    assert await deposit_ids(api, person) == [credited]
    await api.audit_clean()


async def test_legacy_signature_has_no_expiry_but_replays_still_credit_once(api: Api) -> None:
    """The legacy header has no timestamp, so only the provider's id stops its replays."""
    person = await api.person()
    body = deposit(person.phone_number, "2.50")
    captured = legacy(body)
    responses = await asyncio.gather(
        *(deliver(api.client, PAYSEND, body, captured) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    assert await balance(api, person) == ("2.50", "2.50", "0.00")


# Replay after the tolerance ---------------------------------------------------------------------


async def test_captured_signature_replayed_after_five_minutes_is_stale(api: Api) -> None:
    person = await api.person()
    body = deposit(person.phone_number, "40.00")
    now = int(time.time())
    for age in (301 + 5, 600, 86_400, 365 * 86_400):
        captured = stamped(body, at=now - age)
        response = await deliver(api.client, PAYSEND, body, captured)
        assert_problem(response, 401, "stale_signature")
        assert "WWW-Authenticate" not in response.headers
        # Re-stamping the captured digest with a fresh time breaks the HMAC.
        digest = captured["X-Signature"].split("v1=")[1]
        restamped = {"X-Signature": f"t={int(time.time())},v1={digest}"}
        assert_problem(
            await deliver(api.client, PAYSEND, body, restamped), 401, "invalid_signature"
        )
    assert await balance(api, person) == ("0.00", "0.00", "0.00")
    assert await deposit_ids(api, person) == []
    # The body itself was fine: signed now, it is credited once.
    fresh = await deliver(api.client, PAYSEND, body, stamped(body))
    assert fresh.status_code == 200, fresh.text
    assert await balance(api, person) == ("40.00", "40.00", "0.00")


async def test_stale_timestamped_signature_cannot_be_downgraded_to_legacy(api: Api) -> None:
    """With a stale ``X-Signature`` beside a valid legacy header the request is still stale:
    the timestamped header, when present, alone decides."""
    person = await api.person()
    body = deposit(person.phone_number, "9.00")
    stale = stamped(body, at=int(time.time()) - 3600)
    for headers in ({**stale, **legacy(body)}, {**legacy(body), **stale}):
        assert_problem(await deliver(api.client, PAYSEND, body, headers), 401, "stale_signature")
    # Moving the stale digest into the legacy header does not make it a legacy signature.
    digest = stale["X-Signature"].split("v1=")[1]
    assert_problem(
        await deliver(api.client, PAYSEND, body, {"X-Paysend-Signature": digest}),
        401,
        "invalid_signature",
    )
    assert await balance(api, person) == ("0.00", "0.00", "0.00")


# One webhook's signature on the other -----------------------------------------------------------


async def pending_cashout(api: Api, fund: str, amount: str) -> tuple[Person, str, str]:
    person = await api.person()
    await api.fund(person, fund)
    response = await api.client.post(
        TX, json={"type": "withdrawal", "amount": amount}, headers={**person.headers, **idem()}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return person, created["id"], created["withdrawal_code"]


async def test_paysend_signature_is_refused_by_the_cashout_webhook(api: Api) -> None:
    person, cashout_id, code = await pending_cashout(api, "50.00", "20.00")
    body = json.dumps({"phone_number": person.phone_number, "withdrawal_code": code}).encode()
    # More refused deliveries than the five wrong-code attempts a cash-out tolerates, most with
    # a wrong code: none may count as an attempt, because none is authenticated.
    wrong = json.dumps(
        {"phone_number": person.phone_number, "withdrawal_code": "0" * len(code)}
    ).encode()
    deliveries = [
        (body, stamped(body)),
        (body, legacy(body)),
        (body, {**stamped(body), **legacy(body)}),
        *((wrong, stamped(wrong)) for _ in range(3)),
        *((wrong, legacy(wrong)) for _ in range(3)),
    ]
    for content, headers in deliveries:
        response = await deliver(api.client, CASHOUT, content, headers)
        assert_problem(response, 401, "invalid_signature")
    # A complete, valid Paysend delivery replayed at the cash-out webhook is refused too.
    paysend_body = deposit(person.phone_number, "5.00")
    assert_problem(
        await deliver(api.client, CASHOUT, paysend_body, stamped(paysend_body)),
        401,
        "invalid_signature",
    )
    assert await balance(api, person) == ("50.00", "30.00", "20.00")
    status = await api.client.get(f"{TX}/{cashout_id}", headers=person.headers)
    assert status.json()["status"] == "pending"
    # The ATM network's own signature, with the right code, still works: no attempt was used.
    approved = await deliver(api.client, CASHOUT, body, stamped(body, ATM_SECRET))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert await balance(api, person) == ("30.00", "30.00", "0.00")
    await api.audit_clean()


async def test_atm_signature_is_refused_by_the_paysend_webhook(api: Api) -> None:
    person = await api.person()
    body = deposit(person.phone_number, "11.00")
    for headers in (
        stamped(body, ATM_SECRET),
        legacy(body, ATM_SECRET),
        {**stamped(body, ATM_SECRET), **legacy(body)},  # X-Signature decides, and it is wrong
    ):
        assert_problem(await deliver(api.client, PAYSEND, body, headers), 401, "invalid_signature")
    assert await balance(api, person) == ("0.00", "0.00", "0.00")
    assert await deposit_ids(api, person) == []
