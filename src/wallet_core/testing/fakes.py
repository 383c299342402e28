"""Stand-ins for the ports whose real adapters need a library or a service: a clock the test
moves, cheap password hashing, a toy token issuer, an authenticated (not encrypting) secret
box and plain-text emails. For tests and for trying the core out, never for production."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from wallet_core.errors import NotAuthenticated
from wallet_core.notifications import Notification, subject_for
from wallet_core.ports import (
    AccessClaims,
    EmailMessage,
    IssuedAccessToken,
)
from wallet_core.users import User


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class Pbkdf2PasswordHasher:
    """A salted PBKDF2-SHA256 hasher from the standard library (production uses argon2id)."""

    def __init__(self, iterations: int = 1000) -> None:
        self._iterations = iterations

    def _derive(self, password: str, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)

    async def hash(self, password: str) -> str:
        salt = os.urandom(16)
        digest = self._derive(password, salt, self._iterations)
        return f"pbkdf2${self._iterations}${salt.hex()}${digest.hex()}"

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            _, iterations, salt, digest = password_hash.split("$")
            derived = self._derive(password, bytes.fromhex(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(derived.hex(), digest)

    async def burn(self, password: str) -> None:
        self._derive(password, b"0" * 16, self._iterations)


class KeyedSecretHasher:
    """HMAC-SHA256 of a one-time secret under a server key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def candidates(self, secret: str) -> tuple[str, ...]:
        return (self.digest(secret),)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class HmacTokenIssuer:
    """Minimal HS256 JWTs from the standard library (production uses PyJWT)."""

    def __init__(self, secret: bytes, ttl_seconds: int = 1800) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue_access(
        self, user: User, now: datetime, session_generation: int = 0
    ) -> IssuedAccessToken:
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "sub": str(user.id),
            "email": user.email,
            "is_staff": user.is_staff,
            "type": "access",
            "jti": secrets.token_hex(16),
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self._ttl,
            "session_generation": session_generation,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return IssuedAccessToken(f"{signing_input}.{_b64(signature)}", self._ttl)

    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise ValueError("bad signature")
            if json.loads(_unb64(head)).get("alg") != "HS256":
                raise ValueError("bad alg")
            claims = json.loads(_unb64(body))
            if claims.get("type") != "access" or int(claims["exp"]) <= now.timestamp():
                raise ValueError("not a live access token")
            return AccessClaims(
                user_id=UUID(claims["sub"]),
                email=str(claims["email"]),
                is_staff=bool(claims["is_staff"]),
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                session_generation=int(claims.get("session_generation", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NotAuthenticated("The access token is invalid or expired.") from exc


class MemorySecretBox:
    """A SecretBox for the in-memory core, where nothing ever rests on disk: the plaintext under
    an HMAC tag (authenticated, not encrypted). Adapters encrypt for real (AES-GCM)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, plaintext: bytes) -> bytes:
        return hmac.new(self._key, plaintext, hashlib.sha256).digest() + plaintext

    def open(self, sealed: bytes) -> bytes:
        tag, plaintext = sealed[:32], sealed[32:]
        if not hmac.compare_digest(tag, hmac.new(self._key, plaintext, hashlib.sha256).digest()):
            raise ValueError("not sealed by this box")
        return plaintext


class PlainRenderer:
    """Plain-text emails from the core's subject lines (production adds HTML templates)."""

    def render(self, event: Notification, user: User) -> EmailMessage:
        payload = dict(event.payload)
        subject = subject_for(event.kind, payload)
        lines = [f"Hello {user.first_name or user.username},", "", subject + "."]
        lines += [f"{k}: {v}" for k, v in sorted(payload.items()) if v]
        text = "\n".join(lines)
        return EmailMessage(user.email, subject, text, f"<pre>{text}</pre>", str(event.id))
