"""Rate-limit and client-identity bypasses, beyond tests/e2e/test_rate_limits.py (which shows that
a forged ``X-Forwarded-For`` from an untrusted peer buys no fresh window, and that a trusted
proxy's header is read from the right).

* The same email or username in other cases or with blanks is one account (409), even when the
  variants race each other.
* One client in IPv4, IPv4-mapped IPv6 or any other spelling of its address is one client; an
  IPv6 client is one client across its /64, which it can otherwise rotate through at will.
* ``X-Forwarded-For`` with many entries, or split over several header lines, never lets the
  caller choose its identity: only a trusted proxy's hops count, read from the right, over all
  the lines (for the rate limits and for the webhook allowlists alike).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from sec_support import app_client, unique_ipv4, unique_ipv6_prefix

from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import Settings
from environment import WEBHOOK_SECRET
from support import PASSWORD, Api, assert_problem, new_name, new_phone
from wallet_core.ports import UnitOfWork

REGISTER = "/api/v1/auth/register"
PAYSEND = "/api/v1/wallet/webhook/paysend"


def registration(**overrides: str) -> dict[str, str]:
    username = new_name("rlb")
    body = {
        "email": f"{username}@example.com",
        "username": username,
        "password": PASSWORD,
        "phone_number": new_phone(),
    }
    body.update(overrides)
    return body


def assert_limited(response: httpx.Response) -> None:
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"


async def users_with_email(api: Api, email: str) -> int:
    async def work(uow: UnitOfWork) -> int:
        return 1 if await uow.users.find_by_login(email) is not None else 0

    return await api.container.storage.run_read(work)


# Duplicate accounts -----------------------------------------------------------------------------


Variant = Callable[[str], str] | None


@pytest.mark.parametrize(
    ("email_variant", "username_variant"),
    [
        pytest.param(lambda e: f"\t{e.upper()}\n", None, id="email-tab-newline-upper"),
        pytest.param(lambda e: e.swapcase(), None, id="email-swapcase"),
        pytest.param(None, lambda u: f"  {u.upper()} ", id="username-padded-upper"),
        pytest.param(None, lambda u: u.swapcase(), id="username-swapcase"),
        pytest.param(lambda e: f" {e.title()}", lambda u: f"{u.title()}\t", id="both"),
    ],
)
async def test_case_and_blank_variants_are_one_account(
    api: Api, email_variant: Variant, username_variant: Variant
) -> None:
    first = registration()
    created = await api.client.post(REGISTER, json=first)
    assert created.status_code == 201, created.text
    other = registration()
    second = dict(other)
    if email_variant is not None:
        second["email"] = email_variant(first["email"])
    if username_variant is not None:
        second["username"] = username_variant(first["username"])
    response = await api.client.post(REGISTER, json=second)
    assert_problem(response, 409, "already_exists")
    assert await users_with_email(api, other["email"]) == 0
    if email_variant is not None:
        # The variant is the existing account's login, not a second account's.
        login = await api.client.post(
            "/api/v1/auth/token", json={"email": second["email"], "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        me = await api.client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        assert me.json()["id"] == created.json()["user"]["id"]


async def test_racing_variants_create_exactly_one_account(api: Api) -> None:
    base = new_name("race")
    variants = [base, base.upper(), f" {base} ", base.swapcase(), f"{base.title()}\t", base]
    emails = [f"{base}@example.com", f"{base.upper()}@EXAMPLE.COM", f"  {base}@Example.com\t"]
    bodies = [
        registration(email=emails[i % len(emails)], username=variant)
        for i, variant in enumerate(variants)
    ]
    responses = await asyncio.gather(*(api.client.post(REGISTER, json=b) for b in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (len(bodies) - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "already_exists"
    assert await users_with_email(api, f"{base}@example.com") == 1


# One client, whatever the spelling of its address ------------------------------------------------


async def register_from(http: httpx.AsyncClient, forwarded_for: str | None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return await http.post(REGISTER, json=registration(), headers=headers)


def mapped_spellings(ipv4: str) -> list[str]:
    a, b, c, d = (int(x) for x in ipv4.split("."))
    return [
        f"::ffff:{ipv4}",
        f"::FFFF:{ipv4}",
        f"0:0:0:0:0:ffff:{ipv4}",
        f"::ffff:{a * 256 + b:x}:{c * 256 + d:x}",
        f" {ipv4} ",
    ]


async def test_ipv4_and_ipv4_mapped_forms_behind_a_trusted_proxy_are_one_client(
    make_settings: Callable[..., Settings],
) -> None:
    proxy, client = unique_ipv4(), unique_ipv4()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour", TRUSTED_PROXIES=proxy)
    async with app_client(settings, proxy) as http:
        first = await register_from(http, client)
        assert first.status_code == 201, first.text
        for spelling in mapped_spellings(client):
            assert_limited(await register_from(http, spelling))
        # The proxy itself, seen as an IPv4-mapped peer, is still recognised as the proxy.
    async with app_client(settings, f"::ffff:{proxy}") as http:
        assert_limited(await register_from(http, client))
        other = await register_from(http, unique_ipv4())
        assert other.status_code == 201, other.text


async def test_ipv4_and_ipv4_mapped_peers_are_one_client(
    make_settings: Callable[..., Settings],
) -> None:
    client = unique_ipv4()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour")
    async with app_client(settings, f"::ffff:{client}") as http:
        assert (await register_from(http, None)).status_code == 201
    async with app_client(settings, client) as http:
        assert_limited(await register_from(http, None))


async def test_ipv6_spellings_and_the_whole_slash_64_are_one_client(
    make_settings: Callable[..., Settings],
) -> None:
    proxy = unique_ipv4()
    prefix = unique_ipv6_prefix()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour", TRUSTED_PROXIES=proxy)
    async with app_client(settings, proxy) as http:
        first = await register_from(http, f"{prefix}::1")
        assert first.status_code == 201, first.text
        head, tail = prefix.split(":", 1)
        for same_host in (
            f"{prefix.upper()}::1",
            f"{prefix}:0:0:0:1",
            f"{head}:{tail}:0000:0000:0000:0001",
        ):
            assert_limited(await register_from(http, same_host))
        # Another address of the same /64: the same client, not a fresh window.
        for rotated in (f"{prefix}::2", f"{prefix}:dead:beef:cafe:f00d", f"{prefix}:ffff::"):
            assert_limited(await register_from(http, rotated))
        # The neighbouring /64 is somebody else.
        head_value, rest = prefix.rsplit(":", 1)
        neighbour = f"{head_value}:{(int(rest, 16) + 1) % 0x10000:x}::1"
        other = await register_from(http, neighbour)
        assert other.status_code == 201, other.text
    # Without a proxy, IPv6 peers of one /64 share the window too.
    peer_prefix = unique_ipv6_prefix()
    async with app_client(settings, f"{peer_prefix}::a") as http:
        assert (await register_from(http, None)).status_code == 201
    async with app_client(settings, f"{peer_prefix}::b") as http:
        assert_limited(await register_from(http, None))


# X-Forwarded-For cannot choose the identity -----------------------------------------------------


def many_entries(count: int, tail: list[str]) -> str:
    return ", ".join([*(unique_ipv4() for _ in range(count)), *tail])


async def test_many_forwarded_entries_from_an_untrusted_peer_are_ignored(
    make_settings: Callable[..., Settings],
) -> None:
    peer = unique_ipv4()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour")
    async with app_client(settings, peer) as http:
        assert (await register_from(http, many_entries(50, []))).status_code == 201
        for forwarded in (
            many_entries(50, []),
            many_entries(200, [unique_ipv4()]),
            f"{unique_ipv4()}, " * 3 + "garbage, ::1",
            ", ".join(["127.0.0.1"] * 20),
        ):
            assert_limited(await register_from(http, forwarded))


async def test_a_trusted_proxy_chain_yields_the_first_untrusted_hop_from_the_right(
    make_settings: Callable[..., Settings],
) -> None:
    edge, inner = unique_ipv4(), unique_ipv4()
    client = unique_ipv4()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour", TRUSTED_PROXIES=f"{edge},{inner}")
    async with app_client(settings, inner) as http:
        first = await register_from(http, many_entries(30, [client, edge]))
        assert first.status_code == 201, first.text
        # Whatever the client writes to the left, its window is the one the edge proxy saw.
        for spoofed in (
            many_entries(100, [client, edge]),
            f"{edge}, {inner}, {client}, {edge}",
            f"not-an-ip, {client}, {edge}",
            f"{client}, {edge}",
        ):
            assert_limited(await register_from(http, spoofed))
        # A different client behind the same proxies has its own window.
        other = await register_from(http, many_entries(30, [unique_ipv4(), edge]))
        assert other.status_code == 201, other.text


async def test_forwarded_for_split_over_several_lines_is_read_as_one_list(
    make_settings: Callable[..., Settings],
) -> None:
    """A proxy that adds its own ``X-Forwarded-For`` line after the client's: the client's line
    is just the left part of the list, so it cannot choose the identity."""
    proxy, client = unique_ipv4(), unique_ipv4()
    settings = make_settings(RATE_LIMIT_REGISTRATION="1/hour", TRUSTED_PROXIES=proxy)
    async with app_client(settings, proxy) as http:
        first = await register_from(http, client)
        assert first.status_code == 201, first.text
        for spoofed in (unique_ipv4(), f"{unique_ipv4()}, {unique_ipv4()}"):
            lines = [("X-Forwarded-For", spoofed), ("X-Forwarded-For", client)]
            response = await http.post(REGISTER, json=registration(), headers=lines)
            assert_limited(response)


async def test_a_client_written_forwarded_for_line_cannot_pass_a_webhook_allowlist(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    proxy, provider, attacker = unique_ipv4(), unique_ipv4(), unique_ipv4()
    settings = make_settings(TRUSTED_PROXIES=proxy, PAYSEND_IP_ALLOWLIST=provider)
    body = json.dumps(
        {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": person.phone_number, "amount": "7.00"},
        }
    ).encode()
    signed = [
        ("Content-Type", "application/json"),
        ("X-Signature", sign(body, WEBHOOK_SECRET)["X-Signature"]),
    ]
    async with app_client(settings, proxy) as http:
        # The attacker claims the provider's address; the proxy appends what it saw.
        for client_lines in (
            [("X-Forwarded-For", provider)],
            [("X-Forwarded-For", f"{provider}, {provider}")],
            [("X-Forwarded-For", provider), ("X-Forwarded-For", provider)],
        ):
            headers = [*signed, *client_lines, ("X-Forwarded-For", attacker)]
            response = await http.post(PAYSEND, content=body, headers=headers)
            assert_problem(response, 403, "ip_not_allowed")
        assert (await api.wallet(person))["balance"] == "0.00"
        # Control: the provider behind the same proxy is let in.
        genuine = await http.post(
            PAYSEND, content=body, headers=[*signed, ("X-Forwarded-For", provider)]
        )
        assert genuine.status_code == 200, genuine.text
    assert (await api.wallet(person))["balance"] == "7.00"
