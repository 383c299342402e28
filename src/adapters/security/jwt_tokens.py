"""Access tokens as HMAC-signed JWTs (PyJWT), with key rotation by ``kid``.

Times are checked against the ``now`` the core passes in, not PyJWT's own clock, so expiry follows
the injected ``Clock`` like every other deadline in the service.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt

from wallet_core.errors import NotAuthenticated
from wallet_core.ports import AccessClaims, IssuedAccessToken
from wallet_core.users import User

# Only symmetric algorithms: one shared string key cannot safely serve an asymmetric algorithm.
_MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "iss", "type", "email", "is_staff"]
_ACCESS = "access"
#: How many verified tokens each process remembers (oldest forgotten first).
VERIFIED_CACHE_SIZE = 4096


def key_id(key: str) -> str:
    """A short, stable, non-secret name for a key, so a token says which key signed it."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _is_time(value: object) -> bool:
    """Finite seconds within ``datetime``'s range (JSON parsing accepts NaN and 1e999)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 253402300800  # 9999-12-31
    )


class JwtTokenIssuer:
    """The ``TokenIssuer`` port. New tokens are signed with ``signing_key``; tokens signed with any
    of ``previous_keys`` still verify until they are dropped from configuration."""

    def __init__(
        self,
        signing_key: str,
        ttl_seconds: int = 1800,
        previous_keys: Sequence[str] = (),
        algorithm: str = "HS256",
        issuer: str = "digital-wallet",
        *,
        clock_skew_seconds: int = 30,
    ) -> None:
        """``clock_skew_seconds`` tolerates tokens minted by a process whose clock runs slightly
        ahead (their ``nbf``/``iat`` seem in the future); it never extends ``exp``."""
        if algorithm not in _MIN_KEY_BYTES:
            raise ValueError(f"Unsupported JWT algorithm {algorithm!r}: use one of HS256/384/512.")
        if ttl_seconds <= 0:
            raise ValueError("The access token lifetime must be positive.")
        if not issuer:
            raise ValueError("The JWT issuer must not be empty.")
        minimum = _MIN_KEY_BYTES[algorithm]
        for key in (signing_key, *previous_keys):
            if len(key.encode()) < minimum:
                raise ValueError(
                    f"JWT keys for {algorithm} must be at least {minimum} bytes long (RFC 7518)."
                )
        self._algorithm = algorithm
        self._issuer = issuer
        self._ttl = ttl_seconds
        self._skew = clock_skew_seconds
        self._kid = key_id(signing_key)
        self._keys: Mapping[str, str] = {key_id(k): k for k in (*previous_keys, signing_key)}
        self._signing_key = signing_key
        #: Tokens whose signature and claims' shape checked out, by the token itself: a client
        #: presents the same token on every request, and its HMAC and JSON cost more than the
        #: rest of authentication. Times (expiry, not-before) are checked on every request.
        self._verified: dict[str, Mapping[str, Any]] = {}

    def issue_access(
        self, user: User, now: datetime, session_generation: int = 0
    ) -> IssuedAccessToken:
        issued_at = int(now.timestamp())
        claims: dict[str, Any] = {
            "sub": str(user.id),
            "iss": self._issuer,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self._ttl,
            "jti": secrets.token_urlsafe(16),
            "type": _ACCESS,
            "is_staff": user.is_staff,
            "email": user.email,
            "session_generation": session_generation,
        }
        token = jwt.encode(
            claims, self._signing_key, algorithm=self._algorithm, headers={"kid": self._kid}
        )
        return IssuedAccessToken(token=token, expires_in=self._ttl)

    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        """Raise ``NotAuthenticated`` on anything but a valid, unexpired access token of ours."""
        payload = self._verified.get(token)
        if payload is None:
            payload = self._decode(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = payload
        return self._claims(payload, now)

    def _decode(self, token: str) -> Mapping[str, Any]:
        key = self._key_for(token)
        try:
            payload: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise NotAuthenticated("The access token signature is invalid.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise NotAuthenticated(f"The access token has no {exc.claim!r} claim.") from exc
        except jwt.InvalidIssuerError as exc:
            raise NotAuthenticated("The access token was issued by someone else.") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise NotAuthenticated("The access token is malformed.") from exc
        return payload

    def _key_for(self, token: str) -> str:
        """Pick the key by ``kid``, after checking the algorithm, before touching the signature."""
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError) as exc:
            raise NotAuthenticated("The access token is malformed.") from exc
        if header.get("alg") != self._algorithm:
            raise NotAuthenticated(f"The access token must be signed with {self._algorithm}.")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise NotAuthenticated("The access token was signed with an unknown or retired key.")
        return key

    def _claims(self, payload: Mapping[str, Any], now: datetime) -> AccessClaims:
        if payload["type"] != _ACCESS:
            raise NotAuthenticated("This is not an access token.")
        expires, issued = payload["exp"], payload["iat"]
        not_before = payload.get("nbf", issued)
        if not all(_is_time(value) for value in (expires, issued, not_before)):
            raise NotAuthenticated("The access token has malformed time claims.")
        moment = now.timestamp()
        if expires <= moment:
            raise NotAuthenticated("The access token has expired.")
        if max(issued, not_before) > moment + self._skew:
            raise NotAuthenticated("The access token is not valid yet.")
        email, is_staff, token_id = payload["email"], payload["is_staff"], payload["jti"]
        if not (
            isinstance(email, str) and isinstance(is_staff, bool) and isinstance(token_id, str)
        ):
            raise NotAuthenticated("The access token has malformed claims.")
        # Tokens minted before session generations existed have none: generation 0.
        generation = payload.get("session_generation", 0)
        if not (isinstance(generation, int) and not isinstance(generation, bool)) or generation < 0:
            raise NotAuthenticated("The access token has a malformed session generation.")
        try:
            user_id = UUID(payload["sub"])
        except (ValueError, TypeError, AttributeError) as exc:
            raise NotAuthenticated("The access token subject is not a user id.") from exc
        return AccessClaims(
            user_id=user_id,
            email=email,
            is_staff=is_staff,
            token_id=token_id,
            expires_at=datetime.fromtimestamp(expires, UTC),
            session_generation=generation,
        )
