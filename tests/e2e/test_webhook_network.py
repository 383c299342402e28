"""Webhook source checks over HTTP: allowlists, trusted proxies, and a real server.

docs/api.md "Incoming webhooks": the source IP must be in the source's allowlist; the client IP is
the socket peer unless the peer is a configured trusted proxy, in which case ``X-Forwarded-For`` is
read from the right. Check order: IP (403), signature (401), then the body (400).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

import environment
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import Settings
from environment import ATM_SECRET, WEBHOOK_SECRET
from servers import free_port, wait_live
from support import Api, Person, assert_problem, idem
from wallet_core.local import MemoryNotifier

PAYSEND = "/api/v1/wallet/webhook/paysend"
CASHOUT = "/api/v1/wallet/webhook/cashout"
FOREIGN_PEER = ("127.0.0.2", 5000)
PROXY_PEER = ("127.0.0.3", 5000)
REPO = Path(__file__).resolve().parents[2]


def deposit_body(phone: str, amount: str = "10.00") -> bytes:
    return json.dumps(
        {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": phone, "amount": amount},
        }
    ).encode()


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Signature": sign(body, secret)["X-Signature"]}


async def balance(api: Api, person: Person) -> str:
    wallet = await api.wallet(person)
    return f"{wallet['balance']}/{wallet['available_balance']}"


@asynccontextmanager
async def client_for(
    app_container: tuple[Settings, Container], peer: tuple[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    settings, container = app_container
    app = create_app(settings, container, run_background_jobs=False)
    transport = httpx.ASGITransport(app=app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@asynccontextmanager
async def built(make_settings: Callable[..., Settings], **env: str) -> AsyncIterator[Any]:
    settings = make_settings(**env)
    container = build(settings, notifier=MemoryNotifier())
    try:
        yield settings, container
    finally:
        await container.close()


# Allowlist, in process --------------------------------------------------------------------------


async def test_foreign_peer_is_refused_before_the_signature_and_the_body(
    api: Api, settings: Settings, container: Container
) -> None:
    person = await api.person()
    body = deposit_body(person.phone_number)
    async with client_for((settings, container), FOREIGN_PEER) as foreign:
        for content, headers in (
            (body, signed(body)),  # a perfectly valid delivery
            (body, {"Content-Type": "application/json"}),  # unsigned
            (body, signed(body, ATM_SECRET)),  # wrongly signed
            (b"not json at all", {"Content-Type": "application/json"}),  # garbage, unsigned
            (b"[]", signed(b"[]")),  # garbage, signed
        ):
            response = await foreign.post(PAYSEND, content=content, headers=headers)
            assert_problem(response, 403, "ip_not_allowed")
        # The ATM webhook has its own allowlist, with the same default.
        code_body = json.dumps({"phone_number": person.phone_number, "withdrawal_code": "X"})
        response = await foreign.post(
            CASHOUT, content=code_body, headers=signed(code_body.encode(), ATM_SECRET)
        )
        assert_problem(response, 403, "ip_not_allowed")
        assert_problem(await foreign.post(CASHOUT, content=b"{"), 403, "ip_not_allowed")
    assert await balance(api, person) == "0.00/0.00"
    # The same delivery from an allowed address goes through.
    ok = await api.client.post(PAYSEND, content=body, headers=signed(body))
    assert ok.status_code == 200, ok.text
    assert await balance(api, person) == "10.00/10.00"


async def test_foreign_peer_cannot_approve_a_cashout(
    api: Api, settings: Settings, container: Container
) -> None:
    person = await api.person()
    await api.fund(person, "50.00")
    created = await api.client.post(
        "/api/v1/wallet/transactions",
        json={"type": "withdrawal", "amount": "20.00"},
        headers={**person.headers, **idem()},
    )
    assert created.status_code == 201, created.text
    body = json.dumps(
        {"phone_number": person.phone_number, "withdrawal_code": created.json()["withdrawal_code"]}
    ).encode()
    async with client_for((settings, container), FOREIGN_PEER) as foreign:
        response = await foreign.post(CASHOUT, content=body, headers=signed(body, ATM_SECRET))
    assert_problem(response, 403, "ip_not_allowed")
    wallet = await api.wallet(person)
    assert (wallet["balance"], wallet["held_balance"]) == ("50.00", "20.00")


async def test_ipv6_loopback_is_allowed_by_default(
    api: Api, settings: Settings, container: Container
) -> None:
    person = await api.person()
    body = deposit_body(person.phone_number, "2.00")
    async with client_for((settings, container), ("::1", 5000)) as local6:
        response = await local6.post(PAYSEND, content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert await balance(api, person) == "2.00/2.00"


async def test_signature_is_checked_before_the_body_from_an_allowed_peer(api: Api) -> None:
    for garbage in (b"not json", b"[]", b'{"status": 5}', b""):
        headers = {"Content-Type": "application/json"}
        assert_problem(
            await api.client.post(PAYSEND, content=garbage, headers=headers),
            401,
            "invalid_signature",
        )
        assert_problem(
            await api.client.post(PAYSEND, content=garbage, headers=signed(garbage, ATM_SECRET)),
            401,
            "invalid_signature",
        )
        response = await api.client.post(PAYSEND, content=garbage, headers=signed(garbage))
        assert response.status_code == 400, response.text


# Trusted proxies --------------------------------------------------------------------------------


async def test_trusted_proxy_forwarded_for_is_read_from_the_right(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    env = {"TRUSTED_PROXIES": "127.0.0.3/32", "PAYSEND_IP_ALLOWLIST": "203.0.113.0/24"}
    async with built(make_settings, **env) as app_container:
        async with client_for(app_container, PROXY_PEER) as proxy:

            async def via_proxy(forwarded_for: str | None, secret: str = WEBHOOK_SECRET) -> Any:
                body = deposit_body(person.phone_number, "1.00")
                headers = signed(body, secret)
                if forwarded_for is not None:
                    headers["X-Forwarded-For"] = forwarded_for
                return await proxy.post(PAYSEND, content=body, headers=headers)

            for accepted in ("203.0.113.7", "198.51.100.1, 203.0.113.7", "10.9.9.9,203.0.113.200"):
                response = await via_proxy(accepted)
                assert response.status_code == 200, (accepted, response.text)
                assert response.json()["status"] == "processed"
            # Through a chain of trusted proxies, still the first untrusted hop from the right.
            response = await via_proxy("203.0.113.9, 127.0.0.3")
            assert response.status_code == 200, response.text
            for refused in (
                None,  # the proxy itself is not an allowed source
                "",
                "198.51.100.1",
                "203.0.113.7, 198.51.100.1",  # the allowed address was client-supplied
                "not-an-ip",
                "203.0.113.7:443",
                "127.0.0.1",
            ):
                assert_problem(await via_proxy(refused), 403, "ip_not_allowed")
            # An allowed client behind the proxy still needs a valid signature.
            assert_problem(await via_proxy("203.0.113.7", ATM_SECRET), 401, "invalid_signature")

        for untrusted in (FOREIGN_PEER, ("127.0.0.1", 5000)):
            async with client_for(app_container, untrusted) as direct:
                body = deposit_body(person.phone_number, "1.00")
                spoofed = {**signed(body), "X-Forwarded-For": "203.0.113.7"}
                response = await direct.post(PAYSEND, content=body, headers=spoofed)
                assert_problem(response, 403, "ip_not_allowed")
    assert await balance(api, person) == "4.00/4.00"


async def test_forwarded_for_is_ignored_without_trusted_proxies(api: Api) -> None:
    """The default deployment trusts no proxy: a spoofed header changes nothing either way."""
    person = await api.person()
    body = deposit_body(person.phone_number, "1.50")
    headers = {**signed(body), "X-Forwarded-For": "198.51.100.1"}
    response = await api.client.post(PAYSEND, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert await balance(api, person) == "1.50/1.50"


# A real server process ----------------------------------------------------------------------------


async def test_real_server_sees_the_socket_peer(
    api: Api, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """``wallet serve`` (granian) in its own process: the source address of the TCP connection
    decides, and a spoofed X-Forwarded-For from a foreign address does not help."""
    person = await api.person()
    port = free_port()
    env = {
        **os.environ,
        **environment.app_environment(DATABASE_URL=database_url, REDIS_URL=redis_url),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "entrypoints.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=tmp_path,  # no stray .env
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_live(base, process, log)
        foreign = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(transport=foreign, base_url=base, timeout=10) as http:
            body = deposit_body(person.phone_number, "5.00")
            assert_problem(
                await http.post(PAYSEND, content=body, headers=signed(body)), 403, "ip_not_allowed"
            )
            spoofed = {**signed(body), "X-Forwarded-For": "127.0.0.1"}
            assert_problem(
                await http.post(PAYSEND, content=body, headers=spoofed), 403, "ip_not_allowed"
            )
            assert_problem(await http.post(PAYSEND, content=b"{"), 403, "ip_not_allowed")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert_problem(await http.post(PAYSEND, content=body), 401, "invalid_signature")
            response = await http.post(PAYSEND, content=body, headers=signed(body))
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "processed"
            again = await http.post(PAYSEND, content=body, headers=signed(body))
            assert again.json() == response.json()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
    assert await balance(api, person) == "5.00/5.00"
