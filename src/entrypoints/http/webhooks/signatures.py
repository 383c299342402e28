"""HMAC-SHA256 webhook signatures over the raw request body.

Two header forms are accepted:

- ``X-Paysend-Signature: <hex hmac of body>``: Paysend's legacy form, with no replay protection;
- ``X-Signature: t=<unix seconds>,v1=<hex hmac of "<t>.<body>">``: timestamped, so a captured
  request cannot be replayed after the tolerance. Several ``v1`` values may be sent (the sender
  signing with old and new secrets during rotation); unknown schemes (``v0=`` ...) are ignored.

When ``X-Signature`` is present it alone decides: a sender that can timestamp is held to it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wallet_core.errors import InvalidSignature, StaleSignature

SIGNATURE_HEADER = "X-Signature"
LEGACY_SIGNATURE_HEADER = "X-Paysend-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

_HEX_DIGITS = frozenset("0123456789abcdef")
_DIGEST_HEX_LENGTH = 64
_MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True, slots=True)
class _Timestamped:
    timestamp: str
    signatures: tuple[str, ...]


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _timestamped_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Both signature headers for ``body``, as a sender would compute them (operators, tests).

    ``timestamp`` defaults to the current time.
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        LEGACY_SIGNATURE_HEADER: _hmac_hex(secret, body),
        SIGNATURE_HEADER: f"t={stamp},v1={_hmac_hex(secret, _timestamped_message(stamp, body))}",
    }


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    allow_legacy: bool = True,
) -> None:
    """Return if any of ``secrets`` signed ``body``; raise ``InvalidSignature`` otherwise.

    Raise ``StaleSignature`` when a well-formed ``X-Signature`` carries a time more than
    ``tolerance_seconds`` before or after ``now``. Empty secrets are ignored: with no usable
    secret, every request is refused, so an unconfigured webhook is closed, not open.
    """
    usable = [secret for secret in secrets if secret]
    if not usable:
        raise InvalidSignature("No webhook secret is configured: the webhook refuses all requests.")
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamped = lowered.get(SIGNATURE_HEADER.lower())
    if timestamped is not None:
        _verify_timestamped(body, _parse(timestamped), usable, now, tolerance_seconds)
        return
    legacy = lowered.get(LEGACY_SIGNATURE_HEADER.lower())
    if legacy is not None and allow_legacy:
        _verify_legacy(body, legacy, usable)
        return
    accepted = (
        f"{SIGNATURE_HEADER} or {LEGACY_SIGNATURE_HEADER}" if allow_legacy else SIGNATURE_HEADER
    )
    raise InvalidSignature(f"The {accepted} header is required.")


def _is_digest(value: str) -> bool:
    return len(value) == _DIGEST_HEX_LENGTH and set(value) <= _HEX_DIGITS


def _matches(expected: Sequence[str], presented: Sequence[str]) -> bool:
    """Constant-time comparison of every pair, without stopping at the first match."""
    found = False
    for want in expected:
        for got in presented:
            found |= hmac.compare_digest(want.encode(), got.encode())
    return found


def _verify_legacy(body: bytes, header: str, secrets: Sequence[str]) -> None:
    presented = header.strip().lower()
    if not _is_digest(presented):
        raise InvalidSignature(f"{LEGACY_SIGNATURE_HEADER} must be a hex HMAC-SHA256 digest.")
    if not _matches([_hmac_hex(secret, body) for secret in secrets], [presented]):
        raise InvalidSignature()


def _parse(header: str) -> _Timestamped:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise InvalidSignature(f"{SIGNATURE_HEADER} items must look like name=value.")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value.lower())
    if len(timestamps) != 1:
        raise InvalidSignature(f"{SIGNATURE_HEADER} must carry exactly one t=.")
    stamp = timestamps[0]
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_TIMESTAMP_DIGITS):
        raise InvalidSignature(f"{SIGNATURE_HEADER} t= must be whole Unix seconds.")
    if not signatures or not all(_is_digest(signature) for signature in signatures):
        raise InvalidSignature(f"{SIGNATURE_HEADER} needs v1= hex HMAC-SHA256 digests.")
    return _Timestamped(stamp, tuple(signatures))


def _verify_timestamped(
    body: bytes, header: _Timestamped, secrets: Sequence[str], now: float, tolerance: int
) -> None:
    if abs(now - int(header.timestamp)) > tolerance:
        raise StaleSignature()
    message = _timestamped_message(header.timestamp, body)
    if not _matches([_hmac_hex(secret, message) for secret in secrets], header.signatures):
        raise InvalidSignature()
