"""Paysend deposit webhook over HTTP: signatures, rotation, dedup, concurrency, bodies.

docs/api.md "Incoming webhooks": HMAC-SHA256 of the raw body, legacy ``X-Paysend-Signature`` or
timestamped ``X-Signature: t=..,v1=..`` (5 min tolerance), several secrets at once, closed when
unconfigured; each ``transactionId`` is credited at most once whatever the keys and the concurrency.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from entrypoints import cli
from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import sign, verify_signature
from entrypoints.settings import Settings
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import Api, Person, assert_problem, new_phone
from wallet_core.errors import InvalidSignature
from wallet_core.local import MemoryNotifier

PATH = "/api/v1/wallet/webhook/paysend"
OLD_SECRET = "old-secret-paysend-rotation-0123456789abcdef"
NEW_SECRET = "new-secret-paysend-rotation-fedcba9876543210"


def payload(
    phone: str,
    amount: str = "12.50",
    *,
    status: str = "COMPLETED",
    currency: str | None = None,
    transaction_id: str | None = None,
) -> bytes:
    recipient: dict[str, Any] = {"phone_number": phone, "amount": amount}
    if currency is not None:
        recipient["currency"] = currency
    body = {
        "transactionId": transaction_id or f"ps-{uuid.uuid4().hex}",
        "status": status,
        "recipient": recipient,
    }
    return json.dumps(body).encode()


def legacy(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Paysend-Signature": sign(body, secret)["X-Paysend-Signature"]}


def stamped(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    return {"X-Signature": sign(body, secret, at)["X-Signature"]}


async def deliver(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` exactly as given; ``headers`` default to a valid legacy signature."""
    signed = legacy(body) if headers is None else headers
    return await client.post(
        PATH, content=body, headers={"Content-Type": "application/json", **signed}
    )


async def balances(api: Api, person: Person, wallet_id: str | None = None) -> tuple[str, str]:
    wallet = await api.wallet(person, wallet_id)
    return wallet["balance"], wallet["available_balance"]


async def deposits_of(api: Api, person: Person) -> list[dict[str, Any]]:
    response = await api.client.get(
        "/api/v1/wallet/transactions", params={"type": "deposit"}, headers=person.headers
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


@asynccontextmanager
async def app_with(make_settings: Callable[..., Settings], **env: str) -> AsyncIterator[Any]:
    """An in-process client for an app built with other settings (same database and Redis)."""
    settings = make_settings(**env)
    container = build(settings, notifier=MemoryNotifier())
    app = create_app(settings, container, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await container.close()


# Valid deliveries -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["legacy", "timestamped"])
async def test_completed_deposit_is_credited(api: Api, form: str) -> None:
    person = await api.person()
    body = payload(person.phone_number, "12.50")
    headers = legacy(body) if form == "legacy" else stamped(body)

    response = await deliver(api.client, body, headers)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "processed"
    transaction_id = result["transaction_id"]
    uuid.UUID(transaction_id)
    assert await balances(api, person) == ("12.50", "12.50")
    deposits = await deposits_of(api, person)
    assert [d["id"] for d in deposits] == [transaction_id]
    deposit = deposits[0]
    assert deposit["type"] == "deposit"
    assert deposit["funding_source"] == "paysend"
    assert deposit["status"] == "completed"
    assert deposit["amount"] == "12.50"
    assert deposit["currency"] == "USD"
    assert deposit["wallet_id"] == person.wallet_id
    await api.audit_clean()


async def test_phone_number_is_matched_after_normalisation(api: Api) -> None:
    person = await api.person()
    assert person.phone_number.startswith("+")
    response = await deliver(api.client, payload(person.phone_number[1:], "3.00"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processed"
    assert await balances(api, person) == ("3.00", "3.00")


async def test_timestamp_within_tolerance_is_accepted(api: Api) -> None:
    person = await api.person()
    body = payload(person.phone_number, "1.00")
    response = await deliver(api.client, body, stamped(body, at=int(time.time()) - 240))
    assert response.status_code == 200, response.text
    assert await balances(api, person) == ("1.00", "1.00")


@pytest.mark.parametrize("status", ["PENDING", "FAILED", "CANCELLED", "completed"])
async def test_not_completed_is_ignored_and_nothing_credited(api: Api, status: str) -> None:
    person = await api.person()
    response = await deliver(api.client, payload(person.phone_number, "50.00", status=status))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ignored"}
    assert await balances(api, person) == ("0.00", "0.00")
    assert await deposits_of(api, person) == []


async def test_currency_selects_that_wallet(api: Api) -> None:
    person = await api.person()
    eur = await api.open_wallet(person, "EUR")
    response = await deliver(api.client, payload(person.phone_number, "7.25", currency="EUR"))
    assert response.status_code == 200, response.text
    assert await balances(api, person, eur) == ("7.25", "7.25")
    assert await balances(api, person) == ("0.00", "0.00")
    [deposit] = await deposits_of(api, person)
    assert deposit["id"] == response.json()["transaction_id"]
    assert deposit["wallet_id"] == eur
    assert deposit["currency"] == "EUR"


async def test_no_wallet_in_that_currency_is_recipient_not_found(api: Api) -> None:
    person = await api.person()
    response = await deliver(api.client, payload(person.phone_number, "7.25", currency="GBP"))
    assert_problem(response, 422, "recipient_not_found")
    assert await balances(api, person) == ("0.00", "0.00")
    assert await deposits_of(api, person) == []


async def test_unknown_phone_is_recipient_not_found(api: Api) -> None:
    response = await deliver(api.client, payload(new_phone(), "7.25"))
    assert_problem(response, 422, "recipient_not_found")


# Exactly once -----------------------------------------------------------------------------------


async def test_same_transaction_id_is_credited_once_whatever_the_keys(api: Api) -> None:
    person = await api.person()
    transaction_id = f"ps-{uuid.uuid4().hex}"
    body = payload(person.phone_number, "20.00", transaction_id=transaction_id)

    first = await deliver(api.client, body)
    assert first.status_code == 200, first.text
    credited = first.json()["transaction_id"]
    key_a, key_b = uuid.uuid4().hex, uuid.uuid4().hex
    attempts = [
        {},  # again, no key
        {"Idempotency-Key": key_a},
        {"Idempotency-Key": key_b},
        {"Idempotency-Key": key_a},  # a replay of the stored answer
    ]
    for extra in attempts:
        again = await deliver(api.client, body, {**stamped(body), **extra})
        assert again.status_code == 200, again.text
        assert again.json() == {"status": "processed", "transaction_id": credited}
    # The provider's id decides, even when the rest of the notification differs.
    changed = payload(person.phone_number, "99.00", transaction_id=transaction_id)
    again = await deliver(api.client, changed)
    assert again.status_code == 200, again.text
    assert again.json()["transaction_id"] == credited

    assert await balances(api, person) == ("20.00", "20.00")
    assert [d["id"] for d in await deposits_of(api, person)] == [credited]
    await api.audit_clean()


async def test_key_reused_for_another_notification_is_refused(api: Api) -> None:
    person = await api.person()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = payload(person.phone_number, "4.00")
    first = await deliver(api.client, body, {**legacy(body), **key})
    assert first.status_code == 200, first.text
    other = payload(person.phone_number, "5.00")
    reused = await deliver(api.client, other, {**legacy(other), **key})
    assert_problem(reused, 422, "idempotency_key_reused")
    assert await balances(api, person) == ("4.00", "4.00")


async def test_twenty_concurrent_deliveries_credit_once(api: Api) -> None:
    person = await api.person()
    body = payload(person.phone_number, "33.33")

    def headers(i: int) -> dict[str, str]:
        signed = legacy(body) if i % 2 else stamped(body)
        return {**signed, "Idempotency-Key": uuid.uuid4().hex} if i % 4 < 2 else signed

    started = time.perf_counter()
    responses = await asyncio.gather(*(deliver(api.client, body, headers(i)) for i in range(20)))
    elapsed = time.perf_counter() - started
    print(f"\n20 concurrent Paysend deliveries in {elapsed:.3f}s ({20 / elapsed:.0f}/s)")

    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    ids = {r.json()["transaction_id"] for r in responses}
    assert len(ids) == 1
    assert {r.json()["status"] for r in responses} == {"processed"}
    assert await balances(api, person) == ("33.33", "33.33")
    assert [d["id"] for d in await deposits_of(api, person)] == list(ids)
    await api.audit_clean()


async def test_sequential_delivery_throughput(api: Api) -> None:
    """Not a benchmark: shows the in-process rate and that 50 distinct deposits all land."""
    person = await api.person()
    bodies = [payload(person.phone_number, "1.00") for _ in range(50)]
    started = time.perf_counter()
    for body in bodies:
        response = await deliver(api.client, body)
        assert response.status_code == 200, response.text
    elapsed = time.perf_counter() - started
    print(f"\n50 sequential Paysend deliveries in {elapsed:.3f}s ({50 / elapsed:.0f}/s)")
    assert await balances(api, person) == ("50.00", "50.00")


# Refused signatures -----------------------------------------------------------------------------


def _bad_signatures(body: bytes) -> dict[str, tuple[dict[str, str], str]]:
    now = int(time.time())
    good_legacy = legacy(body)["X-Paysend-Signature"]
    good_stamped = stamped(body)["X-Signature"]
    digest = good_stamped.split("v1=")[1]
    tampered = body.replace(b"12.50", b"99.50")
    assert tampered != body
    return {
        "wrong secret, legacy": (legacy(body, ATM_SECRET), "invalid_signature"),
        "wrong secret, timestamped": (stamped(body, ATM_SECRET), "invalid_signature"),
        "signature of another body, legacy": (legacy(tampered), "invalid_signature"),
        "signature of another body, timestamped": (stamped(tampered), "invalid_signature"),
        "timestamp swapped": (
            {"X-Signature": f"t={now - 1},v1={digest}"},
            "invalid_signature",
        ),
        "stale timestamp": (stamped(body, at=now - 301 - 5), "stale_signature"),
        "very stale timestamp": (stamped(body, at=now - 86400), "stale_signature"),
        "future timestamp": (stamped(body, at=now + 301 + 5), "stale_signature"),
        "missing header": ({}, "invalid_signature"),
        "empty legacy": ({"X-Paysend-Signature": ""}, "invalid_signature"),
        "legacy not hex": ({"X-Paysend-Signature": "z" * 64}, "invalid_signature"),
        "legacy truncated": ({"X-Paysend-Signature": good_legacy[:-1]}, "invalid_signature"),
        "legacy with scheme prefix": (
            {"X-Paysend-Signature": f"sha256={good_legacy}"},
            "invalid_signature",
        ),
        "timestamped garbage": ({"X-Signature": "garbage"}, "invalid_signature"),
        "timestamped empty": ({"X-Signature": ""}, "invalid_signature"),
        "timestamped no t": ({"X-Signature": f"v1={digest}"}, "invalid_signature"),
        "timestamped no v1": ({"X-Signature": f"t={now}"}, "invalid_signature"),
        "timestamped t not a number": (
            {"X-Signature": f"t=soon,v1={digest}"},
            "invalid_signature",
        ),
        "timestamped two t": (
            {"X-Signature": f"t={now},t={now},v1={digest}"},
            "invalid_signature",
        ),
        "timestamped v1 not hex": ({"X-Signature": f"t={now},v1={'g' * 64}"}, "invalid_signature"),
        "legacy digest in X-Signature": ({"X-Signature": good_legacy}, "invalid_signature"),
        # X-Signature, when present, alone decides: a good legacy header does not rescue it.
        "bad timestamped beside good legacy": (
            {"X-Signature": "t=1,v1=nope", "X-Paysend-Signature": good_legacy},
            "invalid_signature",
        ),
    }


BAD_SIGNATURE_CASES = list(_bad_signatures(b'{"amount":"12.50"}'))


@pytest.mark.parametrize("case", BAD_SIGNATURE_CASES)
async def test_bad_signature_is_refused_and_nothing_credited(api: Api, case: str) -> None:
    person = await api.person()
    body = payload(person.phone_number, "12.50")
    headers, code = _bad_signatures(body)[case]
    response = await deliver(api.client, body, headers)
    assert_problem(response, 401, code)
    assert await balances(api, person) == ("0.00", "0.00")


async def test_bad_signature_is_checked_before_the_body(api: Api) -> None:
    """401 before 400: an unsigned or wrongly signed garbage body is a signature problem."""
    for body in (b"not json", b"[]", b'{"transactionId": 1}'):
        assert_problem(await deliver(api.client, body, {}), 401, "invalid_signature")
        assert_problem(
            await deliver(api.client, body, legacy(body, ATM_SECRET)), 401, "invalid_signature"
        )
        # Correctly signed, the same body is a validation error.
        assert_problem(await deliver(api.client, body), 400)


# Secret rotation and an unconfigured webhook ----------------------------------------------------


async def test_rotation_accepts_every_configured_secret(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    async with app_with(
        make_settings, PAYSEND_WEBHOOK_SECRETS=f"{OLD_SECRET},{NEW_SECRET}"
    ) as http:
        for secret in (OLD_SECRET, NEW_SECRET):
            body = payload(person.phone_number, "1.00")
            ok = await deliver(http, body, legacy(body, secret))
            assert ok.status_code == 200, ok.text
            body = payload(person.phone_number, "2.00")
            ok = await deliver(http, body, stamped(body, secret))
            assert ok.status_code == 200, ok.text
        # A sender signing with both during its own rollover sends two v1 values.
        body = payload(person.phone_number, "4.00")
        now = int(time.time())
        old_v1 = stamped(body, OLD_SECRET, now)["X-Signature"].split("v1=")[1]
        wrong_v1 = stamped(body, ATM_SECRET, now)["X-Signature"].split("v1=")[1]
        both = {"X-Signature": f"t={now},v1={wrong_v1},v1={old_v1}"}
        ok = await deliver(http, body, both)
        assert ok.status_code == 200, ok.text
        # Secrets that are not configured there are refused, the default test secret included.
        for secret in (WEBHOOK_SECRET, "another-secret-0123456789abcdef"):
            body = payload(person.phone_number, "8.00")
            assert_problem(
                await deliver(http, body, legacy(body, secret)), 401, "invalid_signature"
            )
            assert_problem(
                await deliver(http, body, stamped(body, secret)), 401, "invalid_signature"
            )
    assert await balances(api, person) == ("10.00", "10.00")


async def test_no_secret_configured_refuses_everything(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    async with app_with(make_settings, PAYSEND_WEBHOOK_SECRETS="") as http:
        body = payload(person.phone_number, "5.00")
        for headers in (
            {},
            legacy(body),
            stamped(body),
            legacy(body, ""),  # an HMAC keyed with the empty secret
            stamped(body, ""),
            {"X-Paysend-Signature": "0" * 64},
        ):
            assert_problem(await deliver(http, body, headers), 401, "invalid_signature")
    async with app_with(make_settings, PAYSEND_WEBHOOK_SECRETS=" , ,") as http:
        response = await deliver(http, body, legacy(body, ""))
        assert_problem(response, 401, "invalid_signature")
    assert await balances(api, person) == ("0.00", "0.00")


# Malformed bodies (correctly signed, so the body itself is judged) ------------------------------


def _malformed(phone: str) -> dict[str, bytes]:
    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    ok_recipient = {"phone_number": phone, "amount": "1.00"}

    def notification(**fields: Any) -> bytes:
        """A valid notification with ``fields`` replaced (``...`` drops a field)."""
        body: dict[str, Any] = {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": ok_recipient,
            **fields,
        }
        return dumps({k: v for k, v in body.items() if v is not ...})

    def note(**recipient: Any) -> bytes:
        return notification(recipient=recipient)

    return {
        "empty": b"",
        "not json": b"transactionId=1&status=COMPLETED",
        "truncated json": notification()[:-3],
        "json array": dumps([json.loads(notification())]),
        "json string": dumps("COMPLETED"),
        "json null": b"null",
        "empty object": b"{}",
        "no recipient": notification(recipient=...),
        "no transactionId": notification(transactionId=...),
        "no status": notification(status=...),
        "no amount": note(phone_number=phone),
        "no phone": note(amount="1.00"),
        "amount as number": note(phone_number=phone, amount=1.0),
        "amount negative": note(phone_number=phone, amount="-1.00"),
        "amount zero": note(phone_number=phone, amount="0.00"),
        "amount too precise": note(phone_number=phone, amount="1.001"),
        "amount not a number": note(phone_number=phone, amount="ten"),
        "amount too large": note(phone_number=phone, amount="1" * 16 + ".00"),
        "amount NaN": note(phone_number=phone, amount="NaN"),
        "transactionId as number": notification(transactionId=1),
        "transactionId empty": notification(transactionId=""),
        "status null": notification(status=None),
        "recipient as string": notification(recipient=phone),
        "recipient as list": notification(recipient=[ok_recipient]),
        "phone as object": note(phone_number={"number": phone}, amount="1.00"),
        "phone garbage": note(phone_number="call-me-maybe", amount="1.00"),
        "currency unknown": note(phone_number=phone, amount="1.00", currency="XXX"),
        "currency wrong length": note(phone_number=phone, amount="1.00", currency="DOLLARS"),
        "currency as number": note(phone_number=phone, amount="1.00", currency=840),
        "huge transactionId": notification(transactionId="x" * 20_000),
        "huge phone": note(phone_number=phone + "1" * 20_000, amount="1.00"),
        "huge status": notification(status="COMPLETED" * 2_000),
        "nested garbage": notification(
            transactionId={"$gt": ""},
            status=["COMPLETED"],
            recipient={"phone_number": [[[phone]]], "amount": {"value": "1.00"}},
        ),
        "deeply nested": b'{"recipient":' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        "deeply nested object": b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
        "invalid utf-8": b'{"transactionId":"\xff\xfe","status":"COMPLETED"}',
        "NaN literal": (
            b'{"transactionId":"ps-n","status":"COMPLETED",'
            b'"recipient":{"phone_number":"' + phone.encode() + b'","amount":NaN}}'
        ),
        "trailing garbage": notification() + b"]",
    }


MALFORMED_CASES = list(_malformed("+15550000000"))


@pytest.mark.parametrize("case", MALFORMED_CASES)
async def test_malformed_body_is_a_4xx_problem_and_nothing_credited(api: Api, case: str) -> None:
    person = await api.person()
    body = _malformed(person.phone_number)[case]
    response = await deliver(api.client, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code not in (401, 403)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code
    assert await balances(api, person) == ("0.00", "0.00")


async def test_body_over_64_kib_is_413_and_nothing_credited(api: Api) -> None:
    person = await api.person()
    body = json.dumps(
        {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": person.phone_number, "amount": "1.00"},
            "padding": "x" * (64 * 1024),
        }
    ).encode()
    assert_problem(await deliver(api.client, body), 413, "payload_too_large")
    assert await balances(api, person) == ("0.00", "0.00")


# The operator's signing command ------------------------------------------------------------------


async def test_sign_webhook_command_prints_headers_that_verify(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    person = await api.person()
    body = payload(person.phone_number, "6.00").decode()
    secret = "cli-secret-0123456789abcdef"
    capsys.readouterr()  # drop request logs printed so far

    assert cli.main(["sign-webhook", "--secret", secret, "--body", body]) == 0
    printed = capsys.readouterr().out
    headers = dict(line.split(": ", 1) for line in printed.strip().splitlines())
    assert set(headers) == {"X-Paysend-Signature", "X-Signature"}
    for name, value in headers.items():
        verify_signature(body.encode(), {name: value}, [secret], time.time())
        with pytest.raises(InvalidSignature):
            verify_signature(body.encode(), {name: value}, [WEBHOOK_SECRET], time.time())
        with pytest.raises(InvalidSignature):
            verify_signature(body.encode() + b" ", {name: value}, [secret], time.time())

    assert cli.main(["sign-webhook", "--json", "--secret", WEBHOOK_SECRET, "--body", body]) == 0
    signed = json.loads(capsys.readouterr().out)
    verify_signature(body.encode(), signed, [WEBHOOK_SECRET], time.time())
    # Those headers are what the live webhook accepts.
    response = await deliver(api.client, body.encode(), {"X-Signature": signed["X-Signature"]})
    assert response.status_code == 200, response.text
    assert await balances(api, person) == ("6.00", "6.00")
