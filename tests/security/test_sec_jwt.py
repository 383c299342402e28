"""JWT attacks not covered by tests/e2e/test_auth.py: algorithm confusion (HS256 <-> RS256, with
a real RSA key), ``kid`` injection, embedded-key headers (``jku``/``x5u``/``jwk``/``x5c``), a
forged ``is_staff`` against every staff-only route, and what a revoked token family means.

Documented behaviour asserted here (docs/api.md "Authentication"; the access token is a stateless
JWT):

* After logout, and after a refresh-token reuse revokes the family, every REFRESH token of the
  family is refused (401 ``token_revoked``).
* ACCESS tokens already issued to that family are not revoked: they stay valid until their own
  ``exp`` (30 minutes by default) and are refused afterwards. Clients must drop them on logout;
  a lost device is contained by the short access lifetime plus refresh revocation.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sec_support import (
    access_claims,
    bearer,
    compact,
    hmac_signer,
    rsa_key,
    unb64,
)

from adapters.security.jwt_tokens import key_id
from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from support import PASSWORD, Api, Person, assert_problem, idem
from wallet_core.local import MemoryNotifier
from wallet_core.testing.fakes import ManualClock

ME = "/api/v1/users/me"
USERS = "/api/v1/users"
WALLETS = "/api/v1/wallet"
TX = "/api/v1/wallet/transactions"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"


def assert_unauthenticated(response: httpx.Response, code: str = "not_authenticated") -> None:
    assert_problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"


async def assert_token_refused(client: httpx.AsyncClient, token: str, person: Person) -> None:
    for path in (ME, WALLETS, TX):
        response = await client.get(path, headers=bearer(token))
        assert_unauthenticated(response)
        assert person.email not in response.text
        assert person.id not in response.text


def real_kid(settings: Settings) -> str:
    return key_id(settings.secret_key)


# Algorithm confusion ----------------------------------------------------------------------------


def hs_secret_with_rs256_header(person: Person, settings: Settings) -> str:
    """Signed with OUR HMAC secret, but the header claims RS256."""
    header = {"alg": "RS256", "typ": "JWT", "kid": real_kid(settings)}
    return compact(header, access_claims(person), hmac_signer(settings.secret_key))


def hs_secret_with_other_asymmetric_headers(alg: str) -> Callable[[Person, Settings], str]:
    def forge(person: Person, settings: Settings) -> str:
        header = {"alg": alg, "typ": "JWT", "kid": real_kid(settings)}
        return compact(header, access_claims(person), hmac_signer(settings.secret_key))

    forge.__name__ = f"hs_secret_with_{alg.lower()}_header"
    return forge


def lowercase_alg_with_real_secret(person: Person, settings: Settings) -> str:
    """Algorithm names are case-sensitive (RFC 7515 4.1.1): "hs256" is not HS256."""
    header = {"alg": "hs256", "typ": "JWT", "kid": real_kid(settings)}
    return compact(header, access_claims(person), hmac_signer(settings.secret_key))


def rsa_signed_rs256(person: Person, settings: Settings) -> str:
    """A valid RS256 signature, by an RSA key that is not ours (we never accept RS256)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": real_kid(settings)}
    return compact(header, access_claims(person), rsa_key().sign)


def rsa_signed_hs256_header(person: Person, settings: Settings) -> str:
    """An RSA signature where the header says HS256."""
    header = {"alg": "HS256", "typ": "JWT", "kid": real_kid(settings)}
    return compact(header, access_claims(person), rsa_key().sign)


def hmac_keyed_with_rsa_public_key(person: Person, settings: Settings) -> str:
    """The classic confusion: HS256 keyed with a public key the attacker knows."""
    key = rsa_key()
    public = key.n.to_bytes(key.size, "big")
    header = {"alg": "HS256", "typ": "JWT", "kid": real_kid(settings), "jwk": key.public_jwk()}
    return compact(header, access_claims(person), hmac_signer(public))


CONFUSION_ATTACKS: list[Callable[[Person, Settings], str]] = [
    hs_secret_with_rs256_header,
    *(hs_secret_with_other_asymmetric_headers(alg) for alg in ("PS256", "ES256", "EdDSA")),
    lowercase_alg_with_real_secret,
    rsa_signed_rs256,
    rsa_signed_hs256_header,
    hmac_keyed_with_rsa_public_key,
]


@pytest.mark.parametrize("forge", CONFUSION_ATTACKS, ids=lambda f: f.__name__)
async def test_algorithm_confusion_is_refused(
    client: httpx.AsyncClient,
    api: Api,
    settings: Settings,
    forge: Callable[[Person, Settings], str],
) -> None:
    person = await api.person()
    token = forge(person, settings)
    await assert_token_refused(client, token, person)


async def test_the_rsa_signatures_used_above_are_genuine() -> None:
    """The RS256 forgeries carry real signatures, so the refusals are about the algorithm."""
    key = rsa_key()
    header, payload, signature = compact({"alg": "RS256"}, {"sub": "x"}, key.sign).split(".")
    assert key.verifies(f"{header}.{payload}".encode(), unb64(signature))
    assert not key.verifies(f"{header}.{payload}x".encode(), unb64(signature))


async def test_the_same_claims_signed_properly_are_accepted(
    client: httpx.AsyncClient, api: Api, settings: Settings
) -> None:
    """Control for the forgeries: our claims, our key, our header => accepted. The attacks above
    fail because of what they change, not because the hand-made token is malformed."""
    person = await api.person()
    header = {"alg": "HS256", "typ": "JWT", "kid": real_kid(settings)}
    token = compact(header, access_claims(person), hmac_signer(settings.secret_key))
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == person.id


# kid injection ----------------------------------------------------------------------------------

KID_INJECTIONS: list[tuple[str, Any, str]] = [
    # (id, kid, the key the attacker signs with: "" is the empty key, "REAL" is our real key)
    ("path-traversal-dev-null", "../../../../../../dev/null", ""),
    ("absolute-dev-null", "/dev/null", ""),
    ("path-traversal-real-key", "../../../../etc/passwd", "REAL"),
    ("sql-union", "x' UNION SELECT 'attacker-key' --", "attacker-key"),
    ("sql-or", "' OR '1'='1", "REAL"),
    ("sql-or-empty-key", "' OR 1=1 --", ""),
    ("unknown", uuid.uuid4().hex[:16], "REAL"),
    ("real-kid-with-suffix", "{kid}x", "REAL"),
    ("real-kid-prefix", "{kid_prefix}", "REAL"),
    ("real-kid-upper", "{kid_upper}", "REAL"),
    ("kid-is-the-secret", "{secret}", "REAL"),
    ("crlf", "{kid}\r\nX-Injected: 1", "REAL"),
    ("nul", "{kid}\u0000", "REAL"),
    ("very-long", "k" * 20_000, "REAL"),
    ("int", 1, "REAL"),
    ("list", ["{kid}"], "REAL"),
    ("object", {"kid": "{kid}"}, "REAL"),
    ("null", None, "REAL"),
    ("missing", "<absent>", "REAL"),
]


def _fill(value: Any, settings: Settings) -> Any:
    kid = real_kid(settings)
    if isinstance(value, str):
        return value.format(
            kid=kid, kid_prefix=kid[:8], kid_upper=kid.upper(), secret=settings.secret_key
        )
    if isinstance(value, list):
        return [_fill(v, settings) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, settings) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("kid", "key"),
    [pytest.param(kid, key, id=name) for name, kid, key in KID_INJECTIONS],
)
async def test_kid_injection_is_refused(
    client: httpx.AsyncClient, api: Api, settings: Settings, kid: Any, key: str
) -> None:
    person = await api.person()
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid != "<absent>":
        header["kid"] = _fill(kid, settings)
    signing_key = settings.secret_key if key == "REAL" else key
    token = compact(header, access_claims(person), hmac_signer(signing_key))
    await assert_token_refused(client, token, person)


# Embedded-key headers ---------------------------------------------------------------------------


class KeyServer:
    """A local HTTP endpoint standing in for an attacker's key URL; it counts connections."""

    def __init__(self) -> None:
        self.hits = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> KeyServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.hits += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/.well-known/jwks.json"


def embedded_headers(url: str, attacker_key: str) -> dict[str, dict[str, Any]]:
    rsa = rsa_key()
    return {
        "jku": {"jku": url},
        "x5u": {"x5u": url},
        "jwk-oct": {"jwk": {"kty": "oct", "k": attacker_key.encode().hex()}},
        "jwk-rsa": {"jwk": rsa.public_jwk()},
        "x5c": {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        "all": {"jku": url, "x5u": url, "jwk": rsa.public_jwk()},
    }


async def test_embedded_key_headers_never_make_a_forgery_valid(
    client: httpx.AsyncClient, api: Api, settings: Settings
) -> None:
    person = await api.person()
    attacker_key = "attacker-controlled-key-0123456789abcdef"
    async with KeyServer() as keys:
        for name, extra in embedded_headers(keys.url, attacker_key).items():
            claims = access_claims(person, is_staff=True)
            hs = {"alg": "HS256", "typ": "JWT", "kid": real_kid(settings), **extra}
            rs = {"alg": "RS256", "typ": "JWT", "kid": real_kid(settings), **extra}
            for token in (
                compact(hs, claims, hmac_signer(attacker_key)),
                compact(rs, claims, rsa_key().sign),
                compact({**hs, "kid": "attacker"}, claims, hmac_signer(attacker_key)),
            ):
                for path in (ME, USERS):
                    response = await client.get(path, headers=bearer(token))
                    assert response.status_code == 401, (name, path, response.text)
        assert keys.hits == 0, "the server fetched a key from a URL named in a token"


async def test_embedded_key_headers_are_ignored_on_a_genuine_token(
    client: httpx.AsyncClient, api: Api, settings: Settings
) -> None:
    """Signed with our key, the extra headers change nothing: no fetch, no other key, and in
    particular no staff rights (the genuine token says is_staff false)."""
    person = await api.person()
    async with KeyServer() as keys:
        for name, extra in embedded_headers(keys.url, "whatever-key-0123456789").items():
            header = {"alg": "HS256", "typ": "JWT", "kid": real_kid(settings), **extra}
            token = compact(header, access_claims(person), hmac_signer(settings.secret_key))
            me = await client.get(ME, headers=bearer(token))
            assert me.status_code == 200, (name, me.text)
            assert me.json()["is_staff"] is False
            assert_problem(await client.get(USERS, headers=bearer(token)), 403, "forbidden")
        assert keys.hits == 0


# A forged is_staff cannot reach a staff-only route ----------------------------------------------


def staff_claim_forgeries(person: Person, settings: Settings) -> dict[str, str]:
    """A normal user's own token with ``is_staff: true``, re-signed with every key the user could
    know or guess (never ours), or not re-signed at all."""
    header_b64, _, original_signature = person.access_token.split(".")
    header = {"alg": "HS256", "typ": "JWT", "kid": real_kid(settings)}
    claims = access_claims(person, is_staff=True)
    guesses = {
        "empty-key": "",
        "secret": "secret",
        "kid-as-key": real_kid(settings),
        "issuer-as-key": "digital-wallet",
        "own-password": PASSWORD,
        "own-refresh-token": person.refresh_token,
        "own-access-token": person.access_token,
        "own-email": person.email,
    }
    forged = {name: compact(header, claims, hmac_signer(key)) for name, key in guesses.items()}
    body = compact(header, claims, None).rsplit(".", 1)[0]
    forged["original-signature"] = f"{body}.{original_signature}"
    forged["original-header-and-signature"] = (
        f"{header_b64}.{body.split('.')[1]}.{original_signature}"
    )
    forged["unsigned"] = f"{body}."
    forged["alg-none"] = compact({**header, "alg": "none"}, claims, None)
    forged["hs512-guess"] = compact(
        {**header, "alg": "HS512"}, claims, hmac_signer(PASSWORD * 8, hashlib.sha512)
    )
    return forged


async def staff_only_requests(
    client: httpx.AsyncClient, token: str, victim: Person, attacker: Person
) -> list[httpx.Response]:
    headers = bearer(token)
    return [
        await client.get(USERS, headers=headers),
        await client.get(USERS, params={"email": victim.email}, headers=headers),
        await client.patch(
            f"{WALLETS}/{victim.wallet_id}", json={"is_active": False}, headers=headers
        ),
        await client.post(
            TX,
            json={
                "type": "deposit",
                "amount": "1000.00",
                "wallet_id": attacker.wallet_id,
                "funding_source": "manual",
                "description": "free money",
            },
            headers={**headers, **idem()},
        ),
        await client.get(f"{WALLETS}/{victim.wallet_id}", headers=headers),
        await client.get(WALLETS, params={"user": victim.username}, headers=headers),
    ]


async def test_forged_staff_claim_reaches_no_staff_route(
    client: httpx.AsyncClient, api: Api, settings: Settings
) -> None:
    attacker = await api.person()
    victim = await api.person()
    await api.fund(victim, "25.00")
    for name, token in staff_claim_forgeries(attacker, settings).items():
        for response in await staff_only_requests(client, token, victim, attacker):
            assert response.status_code == 401, (name, response.request.url, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert victim.email not in response.text
    # The attacker's genuine token: authenticated, but not staff.
    genuine = await staff_only_requests(client, attacker.access_token, victim, attacker)
    statuses = [r.status_code for r in genuine]
    assert statuses[:4] == [403, 403, 403, 403], [r.text for r in genuine]
    assert statuses[4] == 404  # another user's wallet does not exist for this caller
    assert genuine[5].status_code == 200
    assert genuine[5].json()["results"] == []  # the filter only narrows the caller's own
    # Nothing changed: the victim's wallet is active and funded, the attacker's is empty.
    victim_wallet = await api.wallet(victim)
    assert victim_wallet["is_active"] is True
    assert victim_wallet["balance"] == "25.00"
    assert (await api.wallet(attacker))["balance"] == "0.00"
    await api.audit_clean()


# Revoked families -------------------------------------------------------------------------------


async def later_client(settings: Settings, minutes: int) -> tuple[httpx.AsyncClient, Any]:
    container = build(
        settings,
        clock=ManualClock(datetime.now(UTC) + timedelta(minutes=minutes)),
        notifier=MemoryNotifier(),
    )
    app = create_app(settings, container, run_background_jobs=False)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://later")
    return http, container


async def assert_access_lives_until_expiry(
    client: httpx.AsyncClient, make_settings: Callable[..., Settings], access_token: str
) -> None:
    """The documented behaviour: valid now, valid at 29 minutes, refused at 31 minutes."""
    assert (await client.get(ME, headers=bearer(access_token))).status_code == 200
    settings = make_settings()
    for minutes, expected in ((29, 200), (31, 401)):
        http, container = await later_client(settings, minutes)
        try:
            response = await http.get(ME, headers=bearer(access_token))
        finally:
            await http.aclose()
            await container.close()
        assert response.status_code == expected, (minutes, response.text)


async def test_after_logout_refresh_tokens_are_dead_access_tokens_expire_on_time(
    client: httpx.AsyncClient, api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    rotated = (await client.post(REFRESH, json={"refresh_token": person.refresh_token})).json()
    logout = await client.post(
        LOGOUT, json={"refresh_token": rotated["refresh_token"]}, headers=person.headers
    )
    assert logout.status_code == 204, logout.text

    for token in (person.refresh_token, rotated["refresh_token"]):
        refused = await client.post(REFRESH, json={"refresh_token": token})
        assert_unauthenticated(refused, "token_revoked")
        assert "access_token" not in refused.text
    # Logging out again with the dead token is harmless and reveals nothing.
    again = await client.post(
        LOGOUT, json={"refresh_token": rotated["refresh_token"]}, headers=person.headers
    )
    assert again.status_code == 204
    # Both access tokens of the family: valid until their exp, then refused.
    await assert_access_lives_until_expiry(client, make_settings, person.access_token)
    await assert_access_lives_until_expiry(client, make_settings, rotated["access_token"])


async def test_after_refresh_reuse_the_family_is_dead_access_tokens_expire_on_time(
    client: httpx.AsyncClient, api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    legit = (await client.post(REFRESH, json={"refresh_token": person.refresh_token})).json()
    # A thief replays the original (already rotated) refresh token: the family dies.
    stolen = await client.post(REFRESH, json={"refresh_token": person.refresh_token})
    assert_unauthenticated(stolen, "token_revoked")
    assert "access_token" not in stolen.text
    after = await client.post(REFRESH, json={"refresh_token": legit["refresh_token"]})
    assert_unauthenticated(after, "token_revoked")
    await assert_access_lives_until_expiry(client, make_settings, legit["access_token"])
    # A new login starts a new, healthy family.
    fresh = await client.post(TOKEN, json={"email": person.email, "password": PASSWORD})
    assert fresh.status_code == 200, fresh.text
    rotated = await client.post(REFRESH, json={"refresh_token": fresh.json()["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
