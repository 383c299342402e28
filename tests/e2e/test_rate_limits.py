"""Rate limits (docs/api.md "Rate limits"): per-scope windows kept in Redis, so every API process
shares them. Each test builds its own app(s) with low limits and calls from an IP address of its
own, so its windows are fresh and nothing here affects the rest of the suite (whose limits are
very high, and whose windows have other keys)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from support import PASSWORD, Api, idem, new_name, new_phone
from support import request_count as count
from wallet_core.ports import UnitOfWork

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/users/me"
TX = "/api/v1/wallet/transactions"
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


def unique_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@asynccontextmanager
async def app_client(
    settings: Settings, ip: str, container: Container | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own (its own container unless one is given) seen from ``ip``."""
    own = container is None
    current = container or build(settings)
    app = create_app(settings, current, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://limited") as http:
            yield http
    finally:
        if own:
            await current.close()


def rate_headers(response: httpx.Response) -> tuple[int, int, int]:
    for name in RATE_HEADERS:
        assert name in response.headers, (name, dict(response.headers))
    return (
        int(response.headers["ratelimit-limit"]),
        int(response.headers["ratelimit-remaining"]),
        int(response.headers["ratelimit-reset"]),
    )


def assert_limited(response: httpx.Response, limit: int, window_seconds: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert body["request_id"] == response.headers["x-request-id"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window_seconds
    got_limit, remaining, reset = rate_headers(response)
    assert got_limit == limit
    assert remaining == 0
    assert 0 <= reset <= window_seconds


def registration() -> dict[str, str]:
    username = new_name("rl")
    return {
        "email": f"{username}@example.com",
        "username": username,
        "password": PASSWORD,
        "phone_number": new_phone(),
    }


async def user_exists(container: Container, email: str) -> bool:
    async def work(uow: UnitOfWork) -> bool:
        return await uow.users.find_by_login(email) is not None

    return await container.storage.run_read(work)


# Registration, shared by every process ----------------------------------------------------------


async def test_registration_limit_is_shared_across_two_app_instances(
    make_settings: Callable[..., Settings], container: Container
) -> None:
    settings = make_settings(RATE_LIMIT_REGISTRATION="3/hour")
    ip = unique_ip()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(app_client(settings, ip))
        second = await stack.enter_async_context(app_client(settings, ip))
        remaining = []
        for http in (first, second, first):
            response = await http.post(REGISTER, json=registration())
            assert response.status_code == 201, response.text
            limit, left, reset = rate_headers(response)
            assert limit == 3
            assert 0 <= reset <= 3600
            remaining.append(left)
        assert remaining == [2, 1, 0]

        body = registration()
        refused = await second.post(REGISTER, json=body)
        assert_limited(refused, limit=3, window_seconds=3600)
        assert not await user_exists(container, body["email"])
        again = await first.post(REGISTER, json=body)
        assert_limited(again, limit=3, window_seconds=3600)
        assert not await user_exists(container, body["email"])

        # A forged X-Forwarded-For from an untrusted peer does not buy a fresh window.
        spoofed = await first.post(REGISTER, json=body, headers={"X-Forwarded-For": unique_ip()})
        assert_limited(spoofed, limit=3, window_seconds=3600)

        # The registration window is per IP: another address registers fine.
        async with app_client(settings, unique_ip()) as elsewhere:
            assert (await elsewhere.post(REGISTER, json=body)).status_code == 201
        # And it limits registration only: logging in from the limited IP still works.
        login = await second.post(TOKEN, json={"email": body["email"], "password": PASSWORD})
        assert login.status_code == 200, login.text


async def test_every_registration_attempt_counts_even_refused_ones(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(RATE_LIMIT_REGISTRATION="2/hour")
    async with app_client(settings, unique_ip()) as http:
        bad = await http.post(REGISTER, json={"email": "x"})
        assert bad.status_code == 400
        assert rate_headers(bad)[:2] == (2, 1)
        ok = await http.post(REGISTER, json=registration())
        assert ok.status_code == 201
        assert rate_headers(ok)[:2] == (2, 0)
        assert_limited(await http.post(REGISTER, json=registration()), 2, 3600)


async def test_registration_limit_behind_a_trusted_proxy_is_per_client(
    make_settings: Callable[..., Settings],
) -> None:
    proxy = unique_ip()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour", TRUSTED_PROXIES=proxy)
    alice_ip, bob_ip = unique_ip(), unique_ip()
    async with app_client(settings, proxy) as http:
        first = await http.post(
            REGISTER, json=registration(), headers={"X-Forwarded-For": alice_ip}
        )
        assert first.status_code == 201, first.text
        second = await http.post(
            REGISTER, json=registration(), headers={"X-Forwarded-For": f"{bob_ip}, {alice_ip}"}
        )
        assert_limited(second, limit=1, window_seconds=3600)
        other = await http.post(REGISTER, json=registration(), headers={"X-Forwarded-For": bob_ip})
        assert other.status_code == 201, other.text


# Anonymous and authenticated scopes -------------------------------------------------------------


async def test_anonymous_limit_per_ip(make_settings: Callable[..., Settings], api: Api) -> None:
    person = await api.person()
    settings = make_settings(RATE_LIMIT_ANON="3/hour")
    ip = unique_ip()
    async with app_client(settings, ip) as http:
        wrong = {"email": person.email, "password": "wrong password 123"}
        for expected_remaining in (2, 1):
            response = await http.post(TOKEN, json=wrong)
            assert response.status_code == 401
            assert rate_headers(response)[:2] == (3, expected_remaining)
        # An unauthenticated (or badly authenticated) call to a protected route counts too.
        unauthenticated = await http.get(ME, headers={"Authorization": "Bearer nonsense"})
        assert unauthenticated.status_code == 401
        assert rate_headers(unauthenticated)[:2] == (3, 0)
        # Over the limit: even the right password is not checked.
        right = {"email": person.email, "password": PASSWORD}
        assert_limited(await http.post(TOKEN, json=right), limit=3, window_seconds=3600)
        assert_limited(await http.post(REGISTER, json=registration()), limit=3, window_seconds=3600)
        # An authenticated caller from the same address is counted per user, not per IP.
        me = await http.get(ME, headers=person.headers)
        assert me.status_code == 200, me.text
        assert rate_headers(me)[0] == 100000
    async with app_client(settings, unique_ip()) as elsewhere:
        assert (await elsewhere.post(TOKEN, json=right)).status_code == 200


async def test_authenticated_limit_per_user_across_apps_and_addresses(
    make_settings: Callable[..., Settings], api: Api
) -> None:
    alice = await api.person()
    bob = await api.person()
    settings = make_settings(RATE_LIMIT_USER="3/hour")
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(app_client(settings, unique_ip()))
        second = await stack.enter_async_context(app_client(settings, unique_ip()))
        remaining = []
        for http in (first, second, first):
            response = await http.get(ME, headers=alice.headers)
            assert response.status_code == 200, response.text
            remaining.append(rate_headers(response)[1])
        assert remaining == [2, 1, 0]
        assert_limited(await second.get(ME, headers=alice.headers), 3, 3600)
        assert_limited(await first.get("/api/v1/wallet", headers=alice.headers), 3, 3600)
        patched = await first.patch(ME, json={"first_name": "Blocked"}, headers=alice.headers)
        assert_limited(patched, 3, 3600)
        # Bob, calling from the very same address, has his own window.
        bob_response = await first.get(ME, headers=bob.headers)
        assert bob_response.status_code == 200
        assert rate_headers(bob_response)[:2] == (3, 2)
    # The refused PATCH changed nothing.
    assert (await api.client.get(ME, headers=alice.headers)).json()["first_name"] == ""


# The wallet scope -------------------------------------------------------------------------------


async def test_wallet_scope_limits_transaction_creation_and_actions(
    make_settings: Callable[..., Settings], api: Api
) -> None:
    sender = await api.person()
    recipient = await api.person()
    await api.fund(sender, "10.00")
    settings = make_settings(RATE_LIMIT_WALLET="2/hour")
    async with app_client(settings, unique_ip()) as http:
        created = []
        for expected_remaining in (1, 0):
            response = await http.post(
                TX,
                json={"type": "transfer", "amount": "1.00", "recipient": recipient.username},
                headers={**sender.headers, **idem()},
            )
            assert response.status_code == 201, response.text
            limit, remaining, _ = rate_headers(response)
            assert (limit, remaining) == (2, expected_remaining)
            created.append(response.json()["id"])

        refused = await http.post(
            TX,
            json={"type": "transfer", "amount": "1.00", "recipient": recipient.username},
            headers={**sender.headers, **idem()},
        )
        assert_limited(refused, limit=2, window_seconds=3600)
        cancel = await http.post(
            f"{TX}/{created[0]}/action",
            json={"action": "cancel"},
            headers={**sender.headers, **idem()},
        )
        assert_limited(cancel, limit=2, window_seconds=3600)

        # Reading is not in the wallet scope, only in the (generous) user scope.
        listed = await http.get(TX, headers=sender.headers)
        assert listed.status_code == 200, listed.text
        assert rate_headers(listed)[0] == 100000
        wallet = await http.get(f"/api/v1/wallet/{sender.wallet_id}", headers=sender.headers)
        assert wallet.status_code == 200

        # The recipient's wallet window is their own.
        accept = await http.post(
            f"{TX}/{created[1]}/action",
            json={"action": "accept"},
            headers={**recipient.headers, **idem()},
        )
        assert accept.status_code == 200, accept.text
        assert rate_headers(accept)[:2] == (2, 1)

    # Nothing moved for the refused requests: one transfer held, one accepted, no third.
    wallet = await api.wallet(sender)
    assert wallet["balance"] == "9.00"
    assert wallet["held_balance"] == "1.00"
    assert wallet["available_balance"] == "8.00"
    first_tx = await api.client.get(f"{TX}/{created[0]}", headers=sender.headers)
    assert first_tx.json()["status"] == "pending"
    await api.audit_clean()


async def test_a_rate_limited_request_is_not_stored_as_its_idempotent_outcome(
    make_settings: Callable[..., Settings], api: Api
) -> None:
    sender = await api.person()
    recipient = await api.person()
    await api.fund(sender, "5.00")
    settings = make_settings(RATE_LIMIT_WALLET="1/second")
    body = {"type": "transfer", "amount": "1.00", "recipient": recipient.username}
    async with app_client(settings, unique_ip()) as http:
        # Windows are aligned to the clock: start just after a second begins, so the first two
        # requests share one window.
        await asyncio.sleep(1 - time.time() % 1 + 0.01)
        first = await http.post(TX, json=body, headers={**sender.headers, **idem()})
        assert first.status_code == 201, first.text
        retry_key = idem()
        limited = await http.post(TX, json=body, headers={**sender.headers, **retry_key})
        assert_limited(limited, limit=1, window_seconds=1)
        await asyncio.sleep(float(limited.headers["retry-after"]) + 0.2)
        retried = await http.post(TX, json=body, headers={**sender.headers, **retry_key})
        assert retried.status_code == 201, retried.text
        assert "idempotent-replayed" not in retried.headers
    assert (await api.wallet(sender))["held_balance"] == "2.00"


# Exemptions and switches ------------------------------------------------------------------------


async def test_health_and_metrics_are_never_limited(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(RATE_LIMIT_ANON="1/hour")
    async with app_client(settings, unique_ip()) as http:
        for _ in range(4):
            for path in (
                "/health/live",
                "/health/ready",
                "/api/v1/health/live",
                "/api/v1/health/ready",
                "/metrics",
            ):
                response = await http.get(path)
                assert response.status_code == 200, (path, response.text)
                assert "ratelimit-limit" not in response.headers
                assert "retry-after" not in response.headers
        # The anonymous window is still whole: health checks did not use it up.
        first = await http.post(TOKEN, json={"email": "a@example.com", "password": "x"})
        assert first.status_code == 401
        assert rate_headers(first)[:2] == (1, 0)
        assert_limited(
            await http.post(TOKEN, json={"email": "a@example.com", "password": "x"}), 1, 3600
        )
        # Limited as an anonymous caller, the probes still answer.
        assert (await http.get("/health/ready")).status_code == 200


async def test_limits_can_be_switched_off(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(RATE_LIMIT_ENABLED="false", RATE_LIMIT_REGISTRATION="1/hour")
    async with app_client(settings, unique_ip()) as http:
        for _ in range(3):
            response = await http.post(REGISTER, json=registration())
            assert response.status_code == 201, response.text
            assert "ratelimit-limit" not in response.headers


async def test_a_refused_request_is_counted_as_429_not_500(
    make_settings: Callable[..., Settings],
) -> None:
    # The limiter refuses before the route runs, by raising; the request's metrics (and its log
    # line, which takes the same status) must still say what the client got.
    settings = make_settings(RATE_LIMIT_ANON="1/hour")
    wrong = {"email": "nobody@example.com", "password": "wrong password 123"}
    route = "/api/v1/auth/token"
    async with app_client(settings, unique_ip()) as http:
        before = (await http.get("/metrics")).text
        assert (await http.post(TOKEN, json=wrong)).status_code == 401
        assert (await http.post(TOKEN, json=wrong)).status_code == 429
        after = (await http.get("/metrics")).text
    assert count(after, "POST", route, "429") == count(before, "POST", route, "429") + 1
    assert count(after, "POST", route, "500") == count(before, "POST", route, "500")
