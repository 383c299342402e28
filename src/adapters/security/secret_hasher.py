"""Keyed digests of one-time secrets, so withdrawal codes are looked up without being stored."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


class HmacSecretHasher:
    """HMAC-SHA256 hex digest: deterministic (so it can be an index) and keyed (so a leaked table
    of digests of short codes cannot be reversed by brute force without the key)."""

    def __init__(self, key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        if not key or not all(previous_keys):
            raise ValueError("HmacSecretHasher needs non-empty keys.")
        self._key = key
        self._previous = tuple(previous_keys)

    def digest(self, secret: str) -> str:
        return _hex(self._key, secret)

    def candidates(self, secret: str) -> tuple[str, ...]:
        """Under the current key, then under each key being rotated out (PREVIOUS_SECRET_KEYS):
        a code issued before a SECRET_KEY rotation still verifies until it expires."""
        return tuple(_hex(key, secret) for key in (self._key, *self._previous))


def _hex(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
