"""Helpers for the security suite: problem checks, apps seen from a chosen address, and JWTs
built by hand (so a test can sign with any key, any header, or an RSA key of its own)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx

from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from support import Person, assert_problem
from wallet_core.local import MemoryNotifier

#: What a database or framework failure would leak; no response may contain any of these.


def assert_client_error(response: httpx.Response) -> Any:
    """A 4xx problem document, whatever its code."""
    assert 400 <= response.status_code < 500, response.text[:500]
    return assert_problem(response, response.status_code)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_ipv4() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def unique_ipv6_prefix() -> str:
    """A fresh /64 in the documentation range, without the host part (append ``::1`` etc.)."""
    return f"2001:db8:{random.randint(0, 0xFFFF):x}:{random.randint(0, 0xFFFF):x}"


@asynccontextmanager
async def app_client(
    settings: Settings, peer: str = "127.0.0.1", container: Container | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app built with ``settings`` whose socket peer is ``peer``."""
    own = container is None
    current = container or build(settings, notifier=MemoryNotifier())
    app = create_app(settings, current, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        if own:
            await current.close()


# Hand-made JWTs ---------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


Signer = Callable[[bytes], bytes]


def hmac_signer(key: str | bytes, digest: Any = hashlib.sha256) -> Signer:
    raw = key.encode() if isinstance(key, str) else key
    return lambda message: hmac.new(raw, message, digest).digest()


def compact(header: dict[str, Any], claims: dict[str, Any], signer: Signer | None) -> str:
    """``header.claims.signature``; no signer gives an empty signature."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = b64(signer(signing_input.encode())) if signer is not None else ""
    return f"{signing_input}.{signature}"


def access_claims(person: Person, **changes: Any) -> dict[str, Any]:
    """The claims our issuer puts in an access token, valid for ten minutes from now."""
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": person.id,
        "iss": "digital-wallet",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "is_staff": False,
        "email": person.email,
    }
    claims.update(changes)
    return claims


# A real RSA key, in pure Python (``cryptography`` is not installed) -----------------------------

_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73)
#: DER prefix of DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _is_probable_prime(n: int, rounds: int = 24) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if _is_probable_prime(candidate):
            return candidate


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256: what RS256 means (RFC 7518 section 3.3)."""
        digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        padded = b"\x00\x01" + b"\xff" * (self.size - len(digest_info) - 3) + b"\x00" + digest_info
        signature = pow(int.from_bytes(padded, "big"), self.d, self.n)
        return signature.to_bytes(self.size, "big")

    def verifies(self, message: bytes, signature: bytes) -> bool:
        digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        recovered = pow(int.from_bytes(signature, "big"), self.e, self.n).to_bytes(self.size, "big")
        return recovered.endswith(digest_info)

    def public_jwk(self) -> dict[str, str]:
        def encode(value: int) -> str:
            return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "n": encode(self.n), "e": encode(self.e), "alg": "RS256"}


@cache
def rsa_key() -> RsaKey:
    """A 1024-bit RSA key (weak, but real and quick to make), made once per run."""
    e = 65537
    while True:
        p, q = _prime(512), _prime(512)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            key = RsaKey(p * q, e, pow(e, -1, phi))
            assert key.verifies(b"self-test", key.sign(b"self-test"))
            return key
