"""Keyed digests of one-time secrets, so withdrawal codes are looked up without being stored."""

from __future__ import annotations

import hashlib
import hmac


class HmacSecretHasher:
    """HMAC-SHA256 hex digest: deterministic (so it can be an index) and keyed (so a leaked table
    of digests of short codes cannot be reversed by brute force without the key)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("HmacSecretHasher needs a non-empty key.")
        self._key = key

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()
